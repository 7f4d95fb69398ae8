"""The street scenes of the synthetic SemanticKITTI generator.

**Scenes.** Each sequence is one straight street along the velodyne x axis,
driven by the ego car in its right-hand lane (ego at ``y = 0``, ground at
``z = -1.73``). Across the street: road lanes, optional parking strips, raised
sidewalks, terrain verges, then a frontage cut into segments that are
buildings, gardens (fence, hedges, trees) or open terrain with bushes. Along
the sidewalks stand poles (some with a traffic sign), trees (trunk and an
irregular crown) and the odd pedestrian; cars drive in the lanes (they move
between frames) or stand parked. Every object is a box, vertical cylinder or
ellipsoid in metres (:class:`Primitive`), voxelised by
:func:`~tools.dataset_converters.synthetic_voxels.voxelize`.
"""
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple

import numpy as np

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    sequence_number

# Raw SemanticKITTI ids drawn by the generator.
CAR, PERSON = 10, 30
ROAD, PARKING, SIDEWALK = 40, 44, 48
BUILDING, FENCE = 50, 51
VEGETATION, TRUNK, TERRAIN = 70, 71, 72
POLE, TRAFFIC_SIGN = 80, 81
SCENE_LABELS = (CAR, PERSON, ROAD, PARKING, SIDEWALK, BUILDING, FENCE,
                VEGETATION, TRUNK, TERRAIN, POLE, TRAFFIC_SIGN)

LIDAR_HEIGHT = 1.73


@dataclass
class Primitive:
    """One solid of a street, in street coordinates (metres).

    Attributes:
        shape: ``'box'`` (``params`` = x0, x1, y0, y1, z0, z1), ``'cylinder'``
            (vertical: cx, cy, radius, z0, z1) or ``'ellipsoid'`` (cx, cy, cz,
            rx, ry, rz); an ellipsoid's surface is made irregular by a hash
            of its cells (``bumpy``).
        label: Raw SemanticKITTI id.
        instance: Object id (shared by the parts of one object).
        params: Shape parameters.
        speed: Motion along x in metres per scan (moving cars).
        bumpy: Whether the ellipsoid gets an irregular surface.
    """
    shape: str
    label: int
    instance: int
    params: Tuple[float, ...]
    speed: float = 0.0
    bumpy: bool = False


@dataclass
class Street:
    """A generated street.

    Attributes:
        primitives: Its solids, painted in order (later ones win).
        ego_speed: Ego motion along x in metres per scan.
        seed: Seed of the hashes that shape the crowns and bushes.
    """
    primitives: List[Primitive]
    ego_speed: float
    seed: int


def make_street(seed: int, sequence: str, length: float) -> Street:
    """Generate the street of one sequence.

    Args:
        seed: Dataset seed.
        sequence: Sequence name (its number enters the random stream).
        length: Street length in metres ahead of the first scan.

    Returns:
        The street; x runs from -10 m to ``length``.
    """
    rng = np.random.default_rng([seed, sequence_number(sequence)])
    ego_speed = rng.uniform(0.7, 1.3)
    builder = _StreetBuilder(rng, (-10.0, length), ego_speed)
    builder.build()
    return Street(builder.primitives, ego_speed, int(rng.integers(1 << 30)))


class _StreetBuilder:
    """Lays out one street; see the module docstring for the scene model."""

    def __init__(self, rng: np.random.Generator, x_range: Tuple[float, float],
                 ego_speed: float) -> None:
        self.rng = rng
        self.ego_speed = ego_speed
        self.x0, self.x1 = x_range
        self.g = -LIDAR_HEIGHT
        self.bottom = self.g - 2.0
        self.primitives: List[Primitive] = []
        self.next_instance = 1

    def add(self, shape: str, label: int, params: Sequence[float],
            **kwargs) -> int:
        """Append a primitive; a new object id unless ``instance`` given."""
        if kwargs.get('instance') is None:
            kwargs['instance'] = self.next_instance
            self.next_instance += 1
        params = tuple(float(p) for p in params)
        self.primitives.append(
            Primitive(shape, label, params=params, **kwargs))
        return kwargs['instance']

    def box(self, label: int, x: Tuple[float, float], y: Tuple[float, float],
            z: Tuple[float, float], **kwargs) -> int:
        """An axis-aligned box; each axis given as an unordered pair."""
        params = [v for pair in (x, y, z) for v in sorted(pair)]
        return self.add('box', label, params, **kwargs)

    def strip(self, label: int, y0: float, y1: float, top: float) -> None:
        """A ground strip along the whole street."""
        self.box(label, (self.x0, self.x1), (y0, y1), (self.bottom, top))

    def segments(self, min_len: float,
                 max_len: float) -> Iterator[Tuple[float, float]]:
        """Consecutive ``(start, end)`` intervals covering the street."""
        x = self.x0
        while x < self.x1:
            end = x + self.rng.uniform(min_len, max_len)
            yield x, min(end, self.x1)
            x = end

    def build(self) -> None:
        rng = self.rng
        lane = rng.uniform(3.0, 3.6)
        right_lanes = 1 + int(rng.random() < 0.3)
        left_lanes = 1 + int(rng.random() < 0.5)
        edge_right = -lane / 2 - (right_lanes - 1) * lane
        edge_left = lane / 2 + left_lanes * lane
        self.strip(TERRAIN, -60.0, 60.0, self.g + 0.02)
        self.strip(ROAD, edge_right, edge_left, self.g)
        self.lane_cars(lane, right_lanes, left_lanes)
        for side, edge in ((1, edge_left), (-1, edge_right)):
            self.roadside(side, edge)

    def lane_cars(self, lane: float, right_lanes: int,
                  left_lanes: int) -> None:
        """Traffic; speeds in metres per scan, oncoming lanes at y > 0.

        The ego lane only holds a lead car that keeps the ego's distance, so
        the ego path stays free.
        """
        rng = self.rng
        for idx in range(-right_lanes + 1, left_lanes + 1):
            y = idx * lane
            if idx == 0:
                if rng.random() < 0.5:
                    self.car(rng.uniform(12.0, 35.0), y, speed=self.ego_speed)
                continue
            if idx > 0:
                speed = rng.uniform(-1.6, -0.8)
            else:
                speed = rng.uniform(0.4, 1.6)
            x = self.x0 + rng.uniform(0.0, 20.0)
            while x < self.x1:
                self.car(x, y + rng.uniform(-0.3, 0.3), speed=speed)
                x += rng.uniform(9.0, 40.0)

    def car(self, x: float, y: float, speed: float = 0.0) -> None:
        """A car centred at (x, y) on the road: body, cabin, four wheels."""
        rng, g = self.rng, self.g
        hx = rng.uniform(3.8, 4.8) / 2
        hy = rng.uniform(1.6, 1.85) / 2
        body_top = g + rng.uniform(1.0, 1.2)
        roof = body_top + rng.uniform(0.35, 0.55)
        inst = self.box(
            CAR, (x - hx, x + hx), (y - hy, y + hy), (g + 0.3, body_top),
            speed=speed)
        rear = x - hx + 0.3 * hx
        front = x + hx - rng.uniform(0.1, 0.4) * hx
        self.box(
            CAR, (rear, front), (y - hy + 0.1, y + hy - 0.1), (body_top, roof),
            instance=inst,
            speed=speed)
        for wx in (x - hx + 0.7, x + hx - 0.7):
            for wy in (y - hy + 0.15, y + hy - 0.15):
                self.box(
                    CAR, (wx - 0.33, wx + 0.33), (wy - 0.12, wy + 0.12),
                    (g, g + 0.3),
                    instance=inst,
                    speed=speed)

    def roadside(self, side: int, edge: float) -> None:
        """Parking, sidewalk, verge and frontage on one side of the road."""
        rng, g = self.rng, self.g
        y = edge
        if rng.random() < 0.5:
            width = rng.uniform(2.0, 2.5)
            self.strip(PARKING, y, y + side * width, g)
            self.parked_cars(y + side * width / 2)
            y += side * width
        walk = rng.uniform(1.5, 4.0)
        self.strip(SIDEWALK, y, y + side * walk, g + rng.uniform(0.15, 0.25))
        self.furniture(y + side * 0.5, y + side * (walk - 0.3))
        y += side * walk
        verge = rng.uniform(0.0, 4.0) if rng.random() < 0.6 else 0.0
        if verge > 0:
            self.strip(TERRAIN, y, y + side * verge, g + 0.05)
            if rng.random() < 0.5:
                self.trees(side, y + side * verge / 2)
        self.frontage(side, y + side * verge)

    def parked_cars(self, y: float) -> None:
        x = self.x0 + self.rng.uniform(0.0, 10.0)
        while x < self.x1:
            if self.rng.random() < 0.75:
                self.car(x, y + self.rng.uniform(-0.15, 0.15))
            x += self.rng.uniform(5.0, 12.0)

    def furniture(self, y_curb: float, y_far: float) -> None:
        """Poles, traffic signs and pedestrians on a sidewalk."""
        rng, g = self.rng, self.g
        x = self.x0 + rng.uniform(0.0, 10.0)
        while x < self.x1:
            if rng.random() < 0.4:
                top = g + rng.uniform(2.2, 3.2)
            else:
                top = g + rng.uniform(3.5, 7.0)
            self.add('cylinder', POLE,
                     (x, y_curb, rng.uniform(0.08, 0.16), g, top))
            if top < g + 3.3 or rng.random() < 0.3:
                self.box(TRAFFIC_SIGN, (x - 0.05, x + 0.05),
                         (y_curb - 0.4, y_curb + 0.4), (top - 0.8, top))
            x += rng.uniform(7.0, 22.0)
        x = self.x0 + rng.uniform(0.0, 30.0)
        while x < self.x1:
            y = rng.uniform(min(y_curb, y_far), max(y_curb, y_far))
            self.add('cylinder', PERSON, (x, y, 0.25, g, g + 1.75))
            x += rng.uniform(15.0, 60.0)

    def trees(self, side: int, y: float) -> None:
        """A row of trees along the street."""
        x = self.x0 + self.rng.uniform(0.0, 11.0)
        while x < self.x1:
            self.tree(x, y + side * self.rng.uniform(-0.3, 0.3))
            x += self.rng.uniform(5.0, 11.0)

    def tree(self, x: float, y: float) -> None:
        """A trunk and an irregular crown above it."""
        rng, g = self.rng, self.g
        trunk = rng.uniform(1.5, 3.0)
        self.add('cylinder', TRUNK,
                 (x, y, rng.uniform(0.15, 0.3), g, g + trunk + 0.5))
        rx = rng.uniform(1.3, 2.6)
        ry = rx * rng.uniform(0.8, 1.2)
        rz = rng.uniform(1.0, 2.0)
        self.add(
            'ellipsoid',
            VEGETATION, (x, y, g + trunk + 0.7 * rz, rx, ry, rz),
            bumpy=True)

    def bush(self, x: float, y: float, radius: float) -> None:
        rz = self.rng.uniform(0.6, 1.4)
        ry = radius * self.rng.uniform(0.7, 1.3)
        self.add(
            'ellipsoid',
            VEGETATION, (x, y, self.g + 0.3 * rz, radius, ry, rz),
            bumpy=True)

    def frontage(self, side: int, y: float) -> None:
        """Buildings, gardens and open ground behind the sidewalk."""
        rng, g = self.rng, self.g
        for x0, x1 in self.segments(8.0, 30.0):
            kind = rng.choice(3, p=(0.5, 0.3, 0.2))
            if kind == 0:
                gap = rng.uniform(0.0, 4.0) if rng.random() < 0.5 else 0.0
                front = y + side * rng.uniform(0.0, 3.0)
                back = front + side * rng.uniform(8.0, 25.0)
                self.box(BUILDING, (x0, x1 - gap), (front, back),
                         (self.bottom, g + rng.uniform(4.0, 16.0)))
                if gap > 1.5 and rng.random() < 0.5:
                    self.bush(x1 - gap / 2, front + side, gap / 2)
            elif kind == 1:
                if rng.random() < 0.7:
                    yf = y + side * 0.2
                    self.box(FENCE, (x0, x1), (yf - 0.08, yf + 0.08),
                             (g, g + rng.uniform(0.8, 1.8)))
                for _ in range(rng.integers(1, 4)):
                    self.bush(
                        rng.uniform(x0, x1), y + side * rng.uniform(1.5, 6.0),
                        rng.uniform(0.8, 2.0))
                x = x0 + rng.uniform(1.0, 6.0)
                while x < x1:
                    self.tree(x, y + side * rng.uniform(2.0, 9.0))
                    x += rng.uniform(4.0, 10.0)
            else:
                for _ in range(rng.integers(0, 3)):
                    self.bush(
                        rng.uniform(x0, x1), y + side * rng.uniform(1.0, 15.0),
                        rng.uniform(1.0, 3.0))
