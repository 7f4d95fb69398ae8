"""Procedural street scenes written in the exact SemanticKITTI layout.

The generator is the data of the embedded demo and of the tests: it needs no
download, is deterministic (the same seed gives the same bytes) and carries a
real learning signal, because the images are rendered from the voxels.

Layout written under ``out_dir`` (``{XX}`` a sequence, ``{frame}`` six digits,
every 5th scan: 000000, 000005, ...)::

    sequences/{XX}/calib.txt          P0..P3 and Tr (KITTI odometry format)
    sequences/{XX}/poses.txt          cam0 pose of every scan (12 floats)
    sequences/{XX}/times.txt          scan timestamps (10 Hz)
    sequences/{XX}/image_2/{frame}.png    left RGB
    sequences/{XX}/image_3/{frame}.png    right RGB
    sequences/{XX}/voxels/{frame}.bin       input occupancy (one lidar scan)
    sequences/{XX}/voxels/{frame}.label     uint16 raw SemanticKITTI ids
    sequences/{XX}/voxels/{frame}.invalid   never observed (see below)
    sequences/{XX}/voxels/{frame}.occluded  not observed from the 1st scan
    {depth_root}/sequences/{XX}/depth/{frame}.png   left depth, 16 bit

**Scenes.** Each sequence is one straight street along the velodyne x axis,
driven by the ego car in its right-hand lane (ego at ``y = 0``, ground at
``z = -1.73``). Across the street: road lanes, optional parking strips, raised
sidewalks, terrain verges, then a frontage cut into segments that are
buildings, gardens (fence, hedges, trees) or open terrain with bushes. Along
the sidewalks stand poles (some with a traffic sign), trees (trunk and an
irregular crown) and the odd pedestrian; cars drive in the lanes (they move
between frames) or stand parked. Every object is a box, vertical cylinder or
ellipsoid in metres, voxelised by vectorised numpy fills on the configured
grid; a frame is the street seen from the ego position of its scan.

**Images.** Both colour cameras are ray cast through the voxel grid (exact
voxel traversal with empty-space skipping), so the stereo pair and the depth
map follow the voxels: a pixel shows the first occupied voxel along its ray
and the right view sees it at the true disparity. The colour is the class
palette colour, varied per object, textured by hashes of the voxel and of the
hit point on its face (anchored in 3D, so both views agree), shaded by the
face direction, hazed with distance, plus mild sensor noise. The depth PNG is
the left z-buffer (camera z of the hit, 0 where the ray leaves the grid).

**Invalid voxels.** SemanticKITTI marks voxels that no lidar scan of the
sequence observed. Here a 360 degree range sensor (elevations -25 to +20
degrees, one ray per voxel at 20 m) scans from points of the ego path through
the grid (x = 0, 10, ..., 40 m ahead of the current scan at lidar height,
skipping points outside the grid or next to an object). From a scan point, an
empty voxel is observed when its centre is not farther than the range
measured in its direction (plus half a voxel), i.e. it lies in the free space
in front of the surfaces; an occupied voxel is observed when a ray hits it or
it shares a face with an observed empty voxel (its surface was in view).
``.invalid`` = observed from no scan point: building interiors, the ground
under its top layer, the space behind walls and everything shadowed along the
whole path. ``.occluded`` is the same test for the first scan point only, and
``.bin`` holds the voxels hit by that first scan (the single-sweep input
occupancy of the benchmark).
"""
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_PALETTE, semantickitti_remap_lut)
from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration
from projects.OccDepth.occdepth.models.utils.geometry import build_lidar2img

# Raw SemanticKITTI ids drawn by the generator.
CAR, PERSON = 10, 30
ROAD, PARKING, SIDEWALK = 40, 44, 48
BUILDING, FENCE = 50, 51
VEGETATION, TRUNK, TERRAIN = 70, 71, 72
POLE, TRAFFIC_SIGN = 80, 81
SCENE_LABELS = (CAR, PERSON, ROAD, PARKING, SIDEWALK, BUILDING, FENCE,
                VEGETATION, TRUNK, TERRAIN, POLE, TRAFFIC_SIGN)

KITTI_GRID_SIZE = (256, 256, 32)
KITTI_VOXEL_SIZE = 0.2
KITTI_IMAGE_SIZE = (370, 1220)
FRAME_STEP = 5
LIDAR_HEIGHT = 1.73
STEREO_BASELINE = 0.54
# Camera 2 sits 6 cm beside camera 0 (the small offset in KITTI's P2); the
# grey-scale pair P0/P1 has KITTI's 0.537 m baseline.
CAM2_OFFSET = 0.06
GREY_BASELINE = 0.537
# Intrinsics (fx = fy, cx, cy) of the colour cameras of the KITTI odometry
# sequences at the 370 x 1220 crop: 00-02 and 13-21, 03, and 04-12.
_KITTI_INTRINSICS = {
    'a': (718.856, 607.1928, 185.2157),
    'b': (721.5377, 609.5593, 172.854),
    'c': (707.0912, 601.8873, 183.1104),
}
# The scan points of the simulated lidar, ahead of the current scan.
_SCAN_POINTS_X = (0.0, 10.0, 20.0, 30.0, 40.0)
_SCAN_ELEVATION = (-25.0, 20.0)
_FREE_RADIUS_CAP = 16
_SKY_TOP = np.array([150.0, 180.0, 225.0])
_SKY_HORIZON = np.array([215.0, 225.0, 235.0])
_FAR_GROUND = np.array([120.0, 118.0, 112.0])
_HAZE = np.array([200.0, 205.0, 215.0])


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


def default_origin(grid_size: Sequence[int],
                   voxel_size: float) -> Tuple[float, float, float]:
    """Grid origin: KITTI's ``(0, -25.6, -2)`` for any grid.

    The grid starts at the lidar (x = 0), is centred on it along y and starts
    2 m below it, so the KITTI grid gives the benchmark's origin.
    """
    return (0.0, -grid_size[1] * voxel_size / 2.0, -2.0)


def sequence_number(sequence: str) -> int:
    """The integer of a two-digit sequence name, with a clear error."""
    if not str(sequence).isdigit():
        raise ValueError(f'sequence names must be numbers like "00", got '
                         f'{sequence!r}')
    return int(sequence)


def kitti_calib(
        sequence: str,
        image_size: Sequence[int] = KITTI_IMAGE_SIZE) -> Dict[str, np.ndarray]:
    """A KITTI odometry calibration for images of ``image_size``.

    The intrinsics are those of the real sequence group, scaled from the
    370 x 1220 crop to ``image_size`` (pixel centres kept). The four cameras
    are rectified: they differ only by an x offset (the 4th column of P).
    ``Tr`` maps the velodyne frame to camera 0 with KITTI's axis swap (cam x
    = -velo y, cam y = -velo z, cam z = velo x), a small rotation and the
    usual translation.

    Returns:
        Mapping ``P0..P3, Tr`` to float64 ``(3, 4)`` matrices.
    """
    num = sequence_number(sequence)
    group = 'b' if num == 3 else 'c' if 4 <= num <= 12 else 'a'
    f, cx, cy = _KITTI_INTRINSICS[group]
    height, width = image_size
    sx = width / KITTI_IMAGE_SIZE[1]
    sy = height / KITTI_IMAGE_SIZE[0]
    k = np.array([[f * sx, 0.0, (cx + 0.5) * sx - 0.5],
                  [0.0, f * sy, (cy + 0.5) * sy - 0.5], [0.0, 0.0, 1.0]])
    offsets = dict(P0=0.0, P1=-GREY_BASELINE, P2=CAM2_OFFSET)
    offsets['P3'] = CAM2_OFFSET - STEREO_BASELINE
    calib = {}
    for key, offset in offsets.items():
        calib[key] = np.zeros((3, 4))
        calib[key][:, :3] = k
        calib[key][0, 3] = f * sx * offset
    swap = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    calib['Tr'] = np.zeros((3, 4))
    calib['Tr'][:, :3] = _small_rotation(0.004, -0.007, 0.0005) @ swap
    calib['Tr'][:, 3] = (-0.012, -0.054, -0.292)
    return calib


def _small_rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation ``Rz @ Ry @ Rx`` of small angles in radians."""
    cx, sx, cy, sy = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry)
    cz, sz = np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


# ---------------------------------------------------------------- streets
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


# ------------------------------------------------------------ voxelising
@dataclass
class Grid:
    """A voxel grid in the velodyne frame."""
    size: Tuple[int, int, int]
    voxel_size: float
    origin: Tuple[float, float, float]

    def index_range(self, axis: int, lo: float, hi: float) -> Tuple[int, int]:
        """Voxel indices ``[i0, i1)`` that overlap ``[lo, hi]`` on ``axis``.

        A solid that overlaps a voxel fills it, so thin objects (poles, signs)
        survive coarse grids.
        """
        s, o = self.voxel_size, self.origin[axis]
        i0 = int(np.floor((lo - o) / s + 1e-6))
        i1 = int(np.ceil((hi - o) / s - 1e-6))
        return max(i0, 0), min(max(i1, i0 + 1), self.size[axis])

    def centres(self, axis: int, i0: int, i1: int) -> np.ndarray:
        return self.origin[axis] + (np.arange(i0, i1) + 0.5) * self.voxel_size


def voxelize(street: Street, grid: Grid, ego_x: float,
             scan: int) -> Tuple[np.ndarray, np.ndarray]:
    """Raw labels and object ids of the street seen from ``ego_x``.

    Args:
        street: The street.
        grid: Voxel grid (velodyne frame of the scan).
        ego_x: Street x of the lidar at this scan.
        scan: Scan index (moving cars advance by ``speed * scan``).

    Returns:
        ``labels`` uint16 and ``instances`` int32 arrays of ``grid.size``.
    """
    labels = np.zeros(grid.size, dtype=np.uint16)
    instances = np.zeros(grid.size, dtype=np.int32)
    for prim in street.primitives:
        shift = ego_x - prim.speed * scan
        if prim.shape == 'box':
            x0, x1, y0, y1, z0, z1 = prim.params
        elif prim.shape == 'cylinder':
            cx, cy, r, z0, z1 = prim.params
            x0, x1, y0, y1 = cx - r, cx + r, cy - r, cy + r
        else:
            # 1.2 radii hold the bumpy surface of :func:`_round_mask`
            cx, cy, cz, rx, ry, rz = prim.params
            x0, x1 = cx - 1.2 * rx, cx + 1.2 * rx
            y0, y1 = cy - 1.2 * ry, cy + 1.2 * ry
            z0, z1 = cz - 1.2 * rz, cz + 1.2 * rz
        ranges = [
            grid.index_range(0, x0 - shift, x1 - shift),
            grid.index_range(1, y0, y1),
            grid.index_range(2, z0, z1)
        ]
        if any(i1 <= i0 for i0, i1 in ranges):
            continue
        (i0, i1), (j0, j1), (k0, k1) = ranges
        block = (slice(i0, i1), slice(j0, j1), slice(k0, k1))
        if prim.shape == 'box':
            labels[block] = prim.label
            instances[block] = prim.instance
            continue
        mask = _round_mask(prim, grid, ranges, shift, street.seed)
        labels[block][mask] = prim.label
        instances[block][mask] = prim.instance
    return labels, instances


def _round_mask(prim: Primitive, grid: Grid, ranges: Sequence[Tuple[int, int]],
                shift: float, seed: int) -> np.ndarray:
    """Voxels of a cylinder or ellipsoid inside its index block.

    A voxel belongs to the solid when its centre is inside; the radius is at
    least half a voxel diagonal so that the voxel holding the axis (or the
    centre) is always filled.
    """
    xs, ys, zs = [grid.centres(a, *ranges[a]) for a in range(3)]
    xs = xs[:, None, None]
    ys = ys[None, :, None]
    zs = zs[None, None, :]
    reach = grid.voxel_size / np.sqrt(2.0)
    if prim.shape == 'cylinder':
        cx, cy, r, z0, z1 = prim.params
        r = max(r, reach)
        inside = (xs + shift - cx)**2 + (ys - cy)**2 <= r * r
        return np.broadcast_to(inside, (xs.size, ys.size, zs.size))
    cx, cy, cz, rx, ry, rz = prim.params
    rx, ry, rz = (max(r, reach) for r in (rx, ry, rz))
    dist = (((xs + shift - cx) / rx)**2 + ((ys - cy) / ry)**2 +
            ((zs - cz) / rz)**2)
    limit = 1.0
    if prim.bumpy:
        # Irregular crowns: the radius varies over 0.5 m street cells.
        cells = [
            np.floor(c / 0.5).astype(np.int64) for c in (xs + shift, ys, zs)
        ]
        noise = _hash01(seed, prim.instance, *cells)
        limit = (0.8 + 0.35 * noise)**2
    return dist <= limit


# ---------------------------------------------------------------- hashing
def _hash01(*keys) -> np.ndarray:
    """Deterministic per-element hash of integer arrays, in ``[0, 1)``."""
    h = np.uint32(0x9E3779B9)
    with np.errstate(over='ignore'):
        for key in keys:
            k = np.asarray(key).astype(np.int64) & 0xFFFFFFFF
            h = _mix(h ^ (k.astype(np.uint32) * np.uint32(0x85EBCA6B)))
    return np.asarray(h, dtype=np.float64) / 4294967296.0


def _mix(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.uint32)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x7FEB352D)
    h = h ^ (h >> np.uint32(15))
    h = h * np.uint32(0x846CA68B)
    return h ^ (h >> np.uint32(16))


# ------------------------------------------------------------ ray casting
def free_radius(occupied: np.ndarray,
                cap: int = _FREE_RADIUS_CAP) -> np.ndarray:
    """Empty-space radius of every voxel, for ray skipping.

    Returns:
        int8 array: -1 on occupied voxels, else the largest ``r <= cap``
        such that every voxel within Chebyshev distance ``r`` is empty.
    """
    radius = np.full(occupied.shape, cap, dtype=np.int8)
    radius[occupied] = -1
    covered = occupied.copy()
    for r in range(cap):
        grown = covered.copy()
        for axis in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(None, -1)
            hi[axis] = slice(1, None)
            src = grown.copy()
            grown[tuple(hi)] |= src[tuple(lo)]
            grown[tuple(lo)] |= src[tuple(hi)]
        radius[grown & ~covered] = r
        covered = grown
    return radius


def cast_rays(radius: np.ndarray, origin: np.ndarray,
              dirs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """First occupied voxel along rays from one origin.

    The traversal is exact (the voxel-crossing walk of Amanatides and Woo),
    and jumps across empty space: from a voxel of radius ``r > 0`` the ray
    advances by ``r`` voxels along its major axis, which cannot leave the
    empty cube around the voxel.

    Args:
        radius: Output of :func:`free_radius` ``(X, Y, Z)``.
        origin: Ray origin in voxel units (``(p - grid_origin) / size``).
        dirs: ``(N, 3)`` directions in voxel units.

    Returns:
        tuple: ``t`` ``(N,)`` float64, the ray parameter (point = origin + t *
        dir) where the ray enters the hit voxel (0 if none), and ``flat``
        ``(N,)`` int64, the C-order index of the hit voxel or -1.
    """
    size = np.array(radius.shape, dtype=np.float64)
    flat_radius = radius.reshape(-1)
    strides = (radius.shape[1] * radius.shape[2], radius.shape[2])
    o = np.asarray(origin, dtype=np.float64)
    d = np.array(dirs, dtype=np.float64).reshape(-1, 3)
    d = np.where(np.abs(d) < 1e-9, np.where(d < 0, -1e-9, 1e-9), d)
    n = len(d)
    t_lo = -o / d
    t_hi = (size - o) / d
    t_in = np.maximum(np.minimum(t_lo, t_hi).max(1), 0.0)
    t_out = np.maximum(t_lo, t_hi).min(1)
    hit_t = np.zeros(n)
    hit_flat = np.full(n, -1, dtype=np.int64)
    ids = np.flatnonzero(t_in < t_out)
    start = np.clip(np.floor(o + d[ids] * t_in[ids, None]), 0, size - 1)
    # State rows: direction (3), voxel (3), t, ray id; float32 is exact for
    # the flat voxel indices of grids below 2 ** 24 voxels and ample for t.
    dtype = np.float32 if radius.size < 2**24 and n < 2**24 else np.float64
    state = np.empty((8, ids.size), dtype=dtype)
    state[0:3] = d[ids].T
    state[3:6] = start.T
    state[6] = t_in[ids]
    state[7] = ids
    oc = o.astype(dtype)[:, None]
    limit = size.astype(dtype)[:, None]
    while state.shape[1]:
        d, v, t = state[0:3], state[3:6], state[6]
        flat = (v[0] * strides[0] + v[1] * strides[1] + v[2]).astype(np.int64)
        r = flat_radius[flat]
        hit = r < 0
        if hit.any():
            rays = state[7, hit].astype(np.int64)
            hit_t[rays] = t[hit]
            hit_flat[rays] = flat[hit]
        positive = d > 0
        t_next = (v + positive - oc) / d
        t_step = t_next.min(0)
        v_step = v + (t_next == t_step) * (positive.astype(dtype) * 2 - 1)
        jump = r > 0
        t_jump = t + r / np.abs(d).max(0)
        v_jump = np.floor(oc + d * t_jump)
        np.copyto(t_step, t_jump, where=jump)
        np.copyto(v_step, v_jump, where=jump)
        keep = ~hit & ((v_step >= 0) & (v_step < limit)).all(0)
        state[3:6] = v_step
        state[6] = t_step
        if not keep.all():
            state = np.compress(keep, state, axis=1)
    return hit_t, hit_flat


def hit_faces(origin: np.ndarray, dirs: np.ndarray, flat: np.ndarray,
              shape: Sequence[int]) -> np.ndarray:
    """Axis (0, 1, 2) of the voxel face through which each ray enters."""
    idx = np.stack(np.unravel_index(flat, shape), axis=1).astype(np.float64)
    d = np.where(np.abs(dirs) < 1e-9, 1e-9, dirs)
    t_enter = (idx + (d < 0) - origin) / d
    return t_enter.argmax(1)


# --------------------------------------------------------------- rendering
def render_view(labels: np.ndarray, instances: np.ndarray, radius: np.ndarray,
                grid: Grid, lidar2img: np.ndarray, image_size: Sequence[int],
                noise_seed: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Ray cast one camera through the voxels.

    Args:
        labels: Raw labels ``(X, Y, Z)``.
        instances: Object ids ``(X, Y, Z)``.
        radius: :func:`free_radius` of ``labels != 0``.
        grid: The voxel grid.
        lidar2img: ``(4, 4)`` velodyne -> pixel matrix (``K @ lidar2cam``).
        image_size: ``(H, W)``.
        noise_seed: Entropy of the sensor noise of this view.

    Returns:
        tuple: RGB uint8 ``(H, W, 3)`` and depth float32 ``(H, W)`` (camera
        z of the first occupied voxel, 0 where the ray leaves the grid).
    """
    height, width = image_size
    inv = np.linalg.inv(lidar2img)
    v, u = np.meshgrid(
        np.arange(height, dtype=np.float64),
        np.arange(width, dtype=np.float64),
        indexing='ij')
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    # Metres per unit camera depth, so the ray parameter is the depth.
    dirs = pix @ inv[:3, :3].T
    scale = grid.voxel_size
    origin = (inv[:3, 3] - np.asarray(grid.origin)) / scale
    depth, flat = cast_rays(radius, origin, dirs / scale)
    hit = flat >= 0
    rgb = _background(dirs)
    if hit.any():
        rgb[hit] = _surface_colour(labels, instances, grid, origin,
                                   dirs[hit] / scale, depth[hit], flat[hit])
    rng = np.random.default_rng(list(noise_seed))
    rgb += rng.normal(0.0, 2.0, size=rgb.shape)
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    depth = np.where(hit, depth, 0.0).astype(np.float32)
    return rgb.reshape(height, width, 3), depth.reshape(height, width)


def _background(dirs: np.ndarray) -> np.ndarray:
    """Sky above the horizon, hazy far ground below it."""
    elevation = dirs[:, 2] / np.linalg.norm(dirs, axis=1)
    w = np.clip(elevation / 0.3, 0.0, 1.0)[:, None]
    sky = _SKY_HORIZON * (1 - w) + _SKY_TOP * w
    return np.where(elevation[:, None] < 0, _FAR_GROUND, sky)


def _surface_colour(labels: np.ndarray, instances: np.ndarray, grid: Grid,
                    origin: np.ndarray, dirs: np.ndarray, t: np.ndarray,
                    flat: np.ndarray) -> np.ndarray:
    """Colour of the hit points: class, object, texture, shading, haze."""
    palette = np.asarray(SEMANTICKITTI_PALETTE, dtype=np.float64)
    train = semantickitti_remap_lut()[labels.reshape(-1)[flat]]
    colour = palette[np.where(train == 255, 0, train)]
    inst = instances.reshape(-1)[flat]
    colour = colour * (0.85 + 0.2 * _hash01(inst, 1))[:, None]
    colour += (np.stack([_hash01(inst, c) for c in (2, 3, 4)], 1) - 0.5) * 20
    colour *= (0.92 + 0.16 * _hash01(flat, 5))[:, None]
    axis = hit_faces(origin, dirs, flat, labels.shape)
    # Texture anchored on the face: a 4 x 4 pattern of cells per voxel face
    # along the two in-face axes, identical in both cameras.
    cells = np.floor((origin + dirs * t[:, None]) * 4).astype(np.int64)
    cells[np.arange(len(cells)), axis] = 0
    colour *= (0.9 +
               0.2 * _hash01(cells[:, 0], cells[:, 1], cells[:, 2]))[:, None]
    shade = np.array([0.88, 0.78, 1.0])[axis]
    colour *= shade[:, None]
    haze = 1.0 - np.exp(-t / 150.0)
    return colour * (1 - haze[:, None]) + _HAZE * haze[:, None]


# ------------------------------------------------------------ observation
def lidar_observation(occupied: np.ndarray, radius: np.ndarray,
                      grid: Grid) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated lidar scans along the ego path (module docstring).

    Returns:
        tuple of bool ``(X, Y, Z)`` arrays: ``observed`` from some scan point,
        ``observed_first`` from the first one and ``scan_hits`` (voxels hit by
        the first scan).
    """
    s = grid.voxel_size
    # Angular step: one voxel at 20 m.
    step = np.arctan(s / 20.0)
    azimuth = np.arange(-np.pi, np.pi, step)
    el_lo, el_hi = np.radians(_SCAN_ELEVATION)
    elevation = np.arange(el_lo, el_hi + step / 2, step)
    az, el = np.meshgrid(azimuth, elevation, indexing='ij')
    dirs = np.stack(
        [np.cos(el) * np.cos(az),
         np.cos(el) * np.sin(az),
         np.sin(el)],
        axis=-1).reshape(-1, 3)
    centres = [grid.centres(a, 0, grid.size[a]) for a in range(3)]
    free_seen = np.zeros(grid.size, dtype=bool)
    free_seen_first = np.zeros(grid.size, dtype=bool)
    hits = np.zeros(grid.size, dtype=bool)
    scan_hits = np.zeros(grid.size, dtype=bool)
    for num, x in enumerate(_SCAN_POINTS_X):
        point = np.array([x, 0.0, 0.0])
        origin = (point - np.asarray(grid.origin)) / s
        if _near_occupied(occupied, origin):
            continue
        dist, flat = cast_rays(radius, origin, dirs / s)
        ranges = np.where(flat >= 0, dist, np.inf).reshape(az.shape)
        seen = _shadow_test(ranges, centres, point, azimuth[0], elevation[0],
                            step, s) & ~occupied
        free_seen |= seen
        hits.reshape(-1)[flat[flat >= 0]] = True
        if num == 0:
            free_seen_first = seen
            scan_hits.reshape(-1)[flat[flat >= 0]] = True
    observed = free_seen | hits | (occupied & _face_neighbours(free_seen))
    observed_first = (
        free_seen_first | scan_hits |
        (occupied & _face_neighbours(free_seen_first)))
    return observed, observed_first, scan_hits


def _face_neighbours(mask: np.ndarray) -> np.ndarray:
    """Voxels that share a face with a voxel of ``mask``."""
    out = np.zeros_like(mask)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        out[tuple(hi)] |= mask[tuple(lo)]
        out[tuple(lo)] |= mask[tuple(hi)]
    return out


def _near_occupied(occupied: np.ndarray, origin: np.ndarray) -> bool:
    """Whether a scan point lies in or next to an occupied voxel."""
    idx = np.floor(origin).astype(np.int64)
    lo = np.clip(idx - 1, 0, np.array(occupied.shape))
    hi = np.clip(idx + 2, 0, np.array(occupied.shape))
    if np.any(hi <= lo):
        return True
    return bool(occupied[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].any())


def _shadow_test(ranges: np.ndarray, centres: Sequence[np.ndarray],
                 point: np.ndarray, az0: float, el0: float, step: float,
                 voxel_size: float) -> np.ndarray:
    """Voxels whose centre is no farther than the range in its direction."""
    num_az, num_el = ranges.shape
    dx = (centres[0] - point[0])[:, None, None]
    dy = (centres[1] - point[1])[None, :, None]
    dz = (centres[2] - point[2])[None, None, :]
    horiz = np.sqrt(dx * dx + dy * dy)
    dist = np.sqrt(horiz * horiz + dz * dz)
    az_bin = np.round(
        (np.arctan2(dy, dx) - az0) / step).astype(np.int64) % num_az
    el_bin = np.round((np.arctan2(dz, horiz) - el0) / step).astype(np.int64)
    in_fov = (el_bin >= 0) & (el_bin < num_el)
    seen_range = ranges[az_bin, np.clip(el_bin, 0, num_el - 1)]
    return in_fov & (dist <= seen_range + 0.5 * voxel_size)


# ---------------------------------------------------------------- frames
@dataclass
class Frame:
    """Everything written for one frame."""
    labels: np.ndarray
    invalid: np.ndarray
    occluded: np.ndarray
    scan: np.ndarray
    images: Tuple[np.ndarray, np.ndarray]
    depth: np.ndarray


def make_frame(street: Street, grid: Grid, calib: Dict[str, np.ndarray],
               image_size: Sequence[int], index: int,
               noise_seed: Sequence[int]) -> Frame:
    """Voxelise, scan and render frame ``index`` (scan ``5 * index``)."""
    scan = FRAME_STEP * index
    labels, instances = voxelize(street, grid, street.ego_speed * scan, scan)
    occupied = labels != 0
    radius = free_radius(occupied)
    observed, observed_first, scan_hits = lidar_observation(
        occupied, radius, grid)
    cam2img, lidar2cam = stereo_calibration(calib)
    lidar2img = build_lidar2img(
        torch.from_numpy(cam2img), torch.from_numpy(lidar2cam)).numpy()
    images, depths = [], []
    for view in range(2):
        rgb, depth = render_view(labels, instances, radius, grid,
                                 lidar2img[view], image_size,
                                 (*noise_seed, view))
        images.append(rgb)
        depths.append(depth)
    return Frame(
        labels=labels,
        invalid=~observed,
        occluded=~observed_first,
        scan=scan_hits,
        images=(images[0], images[1]),
        depth=depths[0])


def write_frame(frame: Frame, seq_dir: str, depth_dir: str,
                frame_id: str) -> None:
    """Write one frame's files in the SemanticKITTI layout."""
    vox = os.path.join(seq_dir, 'voxels', frame_id)
    io.write_voxel_bits(vox + '.bin', frame.scan)
    io.write_label(vox + '.label', frame.labels)
    io.write_voxel_bits(vox + '.invalid', frame.invalid)
    io.write_voxel_bits(vox + '.occluded', frame.occluded)
    for name, img in zip(('image_2', 'image_3'), frame.images):
        Image.fromarray(img).save(
            os.path.join(seq_dir, name, frame_id + '.png'))
    io.write_depth_png(os.path.join(depth_dir, frame_id + '.png'), frame.depth)


def _write_poses(path: str, calib: Dict[str, np.ndarray], speed: float,
                 num_scans: int) -> None:
    """cam0 poses (cam0 of scan 0 as world) and the 10 Hz timestamps."""
    tr = np.vstack([calib['Tr'], [0.0, 0.0, 0.0, 1.0]])
    with open(os.path.join(path, 'poses.txt'), 'w') as f:
        for scan in range(num_scans):
            motion = np.eye(4)
            motion[0, 3] = speed * scan
            pose = tr @ motion @ np.linalg.inv(tr)
            f.write(' '.join(f'{x:.12e}' for x in pose[:3].reshape(-1)) + '\n')
    with open(os.path.join(path, 'times.txt'), 'w') as f:
        for scan in range(num_scans):
            f.write(f'{scan * 0.1:.6e}\n')


def generate_dataset(
        out_dir: str,
        sequences: Sequence[str] = ('00', ),
        frames: int = 4,
        seed: int = 0,
        image_size: Sequence[int] = KITTI_IMAGE_SIZE,
        grid_size: Sequence[int] = KITTI_GRID_SIZE,
        voxel_size: float = KITTI_VOXEL_SIZE,
        depth_root: Optional[str] = None,
        log: Optional[Callable[[str], None]] = None) -> List[float]:
    """Write a synthetic SemanticKITTI dataset.

    Args:
        out_dir: Dataset root (the folder that will hold ``sequences/``).
        sequences: Two-digit sequence names.
        frames: Labelled frames per sequence (000000, 000005, ...).
        seed: Random seed; the same seed writes the same bytes.
        image_size: ``(H, W)`` of the images; intrinsics are scaled from
            KITTI's 370 x 1220 crop.
        grid_size: Voxel grid ``(X, Y, Z)``.
        voxel_size: Voxel edge in metres; the origin is
            :func:`default_origin`.
        depth_root: Root of the stereo depth maps, default
            ``{out_dir}/depth``.
        log: Called with one line per written frame.

    Returns:
        Seconds spent on each frame.
    """
    if frames < 1:
        raise ValueError(f'frames must be >= 1, got {frames}')
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f'image_size must be (H, W), got {image_size}')
    if len(grid_size) != 3 or np.prod(grid_size) % 8 or min(grid_size) < 1:
        raise ValueError(f'grid_size must be 3 positive sizes whose product '
                         f'is a multiple of 8, got {grid_size}')
    if voxel_size <= 0:
        raise ValueError(f'voxel_size must be positive, got {voxel_size}')
    for seq in sequences:
        sequence_number(seq)
    grid = Grid(
        tuple(int(n) for n in grid_size), float(voxel_size),
        default_origin(grid_size, voxel_size))
    depth_root = depth_root or os.path.join(out_dir, 'depth')
    seconds = []
    for seq in sequences:
        num = sequence_number(seq)
        seq_dir = os.path.join(out_dir, 'sequences', seq)
        depth_dir = os.path.join(depth_root, 'sequences', seq, 'depth')
        for sub in ('image_2', 'image_3', 'voxels'):
            os.makedirs(os.path.join(seq_dir, sub), exist_ok=True)
        os.makedirs(depth_dir, exist_ok=True)
        calib = kitti_calib(seq, image_size)
        io.write_calib(os.path.join(seq_dir, 'calib.txt'), calib)
        extent = grid.size[0] * grid.voxel_size
        street = make_street(seed, seq,
                             1.3 * FRAME_STEP * frames + extent + 20.0)
        _write_poses(seq_dir, calib, street.ego_speed,
                     FRAME_STEP * (frames - 1) + 1)
        for index in range(frames):
            start = time.perf_counter()
            frame_id = f'{FRAME_STEP * index:06d}'
            frame = make_frame(street, grid, calib, image_size, index,
                               (seed, num, index))
            write_frame(frame, seq_dir, depth_dir, frame_id)
            seconds.append(time.perf_counter() - start)
            if log is not None:
                log(f'sequence {seq} frame {frame_id}: '
                    f'{seconds[-1]:.2f} s')
    return seconds
