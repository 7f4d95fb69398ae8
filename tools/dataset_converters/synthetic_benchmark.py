"""The synthetic stereo benchmark: scenes where stereo can beat layout priors.

The demo's street scenes (:mod:`~tools.dataset_converters.synthetic_streets`)
are regular: a flat ground at the lidar's height, walls at the sides, cars of
one size in lanes. A monocular network explains most of their voxels from
those priors, so the demo cannot show what the second view adds (paper
Tables 3 and 4a). Each frame of this benchmark is an independent scene
instead:

* **Ground.** A plane of random height and tilt under the lidar (its height
  drawn in ``GROUND_HEIGHT``, pitch and roll in ``GROUND_TILT_DEG``): varying
  the ground under a fixed rig is the same, for the images and the voxels,
  as varying the camera's height and pitch over a flat ground, and keeps one
  ``calib.txt`` per sequence as SemanticKITTI has. Its surface is a base
  class with rectangles of other ground classes painted on it.
* **Objects.** 10 to 25 solids per frame of the generator's classes, with
  sizes, heights and distances drawn widely (:func:`make_objects`): boxes of
  any size labelled car or building, overhangs and crowns floating above the
  ground, poles with signs at random heights, fences, people, trees. They
  occlude each other at every depth of the grid.
* **Texture.** The demo's renderer
  (:func:`~tools.dataset_converters.synthetic_sensors.render_view`): colours
  hashed on 4 x 4 cells of every voxel face, anchored in 3D, so both views
  see the same pattern at the true disparity.
* **Observation.** ``.invalid`` marks the voxels the left camera does not
  observe (:func:`camera_observation`): outside its image, or behind the
  first surface along the ray. The benchmark scores what the cameras can
  see, where a second view can help; the completion of hidden space is the
  demo's business. ``.occluded`` is the same mask (one viewpoint) and
  ``.bin`` holds the occupied voxels the left camera sees.
* **Depth.** The left camera's z-buffer, as in the demo: the ground truth of
  the stereo-depth distillation and of the depth head's accuracy.

``poses.txt`` holds the identity for every scan: the frames are independent
scenes, there is no ego motion to record.
"""
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    sequence_number
from tools.dataset_converters import synthetic_streets as st
from tools.dataset_converters.synthetic_kitti import (FRAME_STEP, Frame,
                                                      check_arguments,
                                                      render_stereo,
                                                      start_sequence,
                                                      write_frame, write_poses)
from tools.dataset_converters.synthetic_sensors import face_neighbours
from tools.dataset_converters.synthetic_voxels import (Grid, free_radius,
                                                       voxelize)

# The benchmark's defaults: 128 x 416 images (KITTI intrinsics scaled by
# 0.34: f = 241 px, f * baseline = 130 px m) and 64 x 64 x 16 voxels of
# 0.3 m (19.2 m ahead, +-9.6 m across, 4.8 m high).
BENCHMARK_IMAGE_SIZE = (128, 416)
BENCHMARK_GRID_SIZE = (64, 64, 16)
BENCHMARK_VOXEL_SIZE = 0.3
GROUND_HEIGHT = (-2.1, -1.3)
GROUND_TILT_DEG = 3.0
GROUND_CLASSES = (st.ROAD, st.SIDEWALK, st.TERRAIN, st.PARKING)
# Objects start this far ahead of the lidar when they overlap the band
# |y| < 1.2 m in front of the cameras.
_KEEP_OUT = (2.0, 1.2)
_KINDS = ('box', 'overhang', 'crown', 'tree', 'pole', 'person', 'fence')
_KIND_P = (0.3, 0.12, 0.14, 0.12, 0.12, 0.1, 0.1)


def benchmark_origin(grid_size: Sequence[int],
                     voxel_size: float) -> Tuple[float, float, float]:
    """Grid origin: from the lidar forward, centred across and in height."""
    return (0.0, -grid_size[1] * voxel_size / 2.0,
            -grid_size[2] * voxel_size / 2.0)


class GroundPlane:
    """``z = height + slope_x * x + slope_y * y`` in the velodyne frame."""

    def __init__(self, height: float, slope_x: float, slope_y: float) -> None:
        self.height = height
        self.slope_x = slope_x
        self.slope_y = slope_y

    def z(self, x, y):
        return self.height + self.slope_x * x + self.slope_y * y


def make_ground(rng: np.random.Generator) -> GroundPlane:
    """A random ground plane (see the module docstring)."""
    tilt = np.tan(np.radians(GROUND_TILT_DEG))
    return GroundPlane(
        rng.uniform(*GROUND_HEIGHT), rng.uniform(-tilt, tilt),
        rng.uniform(-tilt, tilt))


def make_objects(rng: np.random.Generator, ground: GroundPlane,
                 extent: Tuple[float, float]) -> List[st.Primitive]:
    """The solids of one frame.

    Args:
        rng: Random stream of the frame.
        ground: Its ground plane.
        extent: ``(length, width)`` of the grid in metres (x from 0, y
            centred); objects are placed up to 2 m beyond it.

    Returns:
        Primitives with object ids from 1, in painting order.
    """
    length, width = extent
    prims: List[st.Primitive] = []

    def add(shape, label, params, inst, bumpy=False):
        prims.append(
            st.Primitive(
                shape,
                label,
                inst,
                tuple(float(p) for p in params),
                bumpy=bumpy))

    for inst in range(1, int(rng.integers(10, 26)) + 1):
        kind = _KINDS[rng.choice(len(_KINDS), p=_KIND_P)]
        x = rng.uniform(1.0, length + 2.0)
        y = rng.uniform(-width / 2 - 2.0, width / 2 + 2.0)
        if kind in ('box', 'fence'):
            if kind == 'box':
                hx, hy = rng.uniform(0.25, 4.0, size=2)
                height = rng.uniform(0.6, 5.0)
            else:
                along = rng.uniform(0.5, 4.0)
                hx, hy = (along, 0.08) if rng.random() < 0.5 else (0.08, along)
                height = rng.uniform(0.5, 2.0)
            hx, hy = float(hx), float(hy)
        elif kind == 'overhang':
            hx, hy = (float(v) for v in rng.uniform(0.5, 3.0, size=2))
        elif kind in ('crown', 'tree'):
            hx = hy = rng.uniform(0.4, 2.5)
        else:
            hx = hy = 0.4
        # keep the cameras out of every object
        if x - hx < _KEEP_OUT[0] and abs(y) - hy < _KEEP_OUT[1]:
            x = _KEEP_OUT[0] + hx
        base = float(ground.z(x, y))
        label = st.CAR if rng.random() < 0.4 else st.BUILDING
        if kind == 'box':
            add('box', label,
                (x - hx, x + hx, y - hy, y + hy, base - 0.5, base + height),
                inst)
        elif kind == 'fence':
            add('box', st.FENCE,
                (x - hx, x + hx, y - hy, y + hy, base - 0.5, base + height),
                inst)
        elif kind == 'overhang':
            bottom = base + rng.uniform(1.0, 3.0)
            top = bottom + rng.uniform(0.3, 1.5)
            if rng.random() < 0.5:
                add('box', st.BUILDING,
                    (x - hx, x + hx, y - hy, y + hy, bottom, top), inst)
            else:
                add('ellipsoid',
                    st.VEGETATION,
                    (x, y, (bottom + top) / 2, hx, hy, (top - bottom) / 2),
                    inst,
                    bumpy=True)
        elif kind == 'crown':
            rz = rng.uniform(0.4, 2.0)
            add('ellipsoid',
                st.VEGETATION, (x, y, base + rng.uniform(-0.2, 3.5), hx,
                                hy * rng.uniform(0.7, 1.3), rz),
                inst,
                bumpy=True)
        elif kind == 'tree':
            trunk = rng.uniform(0.8, 3.0)
            rz = rng.uniform(0.6, 2.0)
            add('cylinder', st.TRUNK,
                (x, y, rng.uniform(0.1, 0.35), base - 0.5, base + trunk + rz),
                inst)
            add('ellipsoid',
                st.VEGETATION, (x, y, base + trunk + rz, hx, hy, rz),
                inst,
                bumpy=True)
        elif kind == 'pole':
            top = base + rng.uniform(1.0, 5.0)
            add('cylinder', st.POLE,
                (x, y, rng.uniform(0.05, 0.3), base - 0.5, top), inst)
            if rng.random() < 0.6:
                sign = rng.uniform(base + 0.8, top)
                half = rng.uniform(0.2, 0.6)
                add('box', st.TRAFFIC_SIGN,
                    (x - 0.05, x + 0.05, y - half, y + half, sign - half,
                     sign + half), inst)
        else:
            add('cylinder', st.PERSON, (x, y, rng.uniform(
                0.2, 0.4), base - 0.5, base + rng.uniform(1.0, 2.0)), inst)
    return prims


def paint_ground(labels: np.ndarray, instances: np.ndarray, grid: Grid,
                 ground: GroundPlane, rng: np.random.Generator) -> None:
    """Fill the empty voxels whose centre is under the ground plane.

    The surface class is a base class with 2 to 5 rectangles of other
    ground classes painted over it (in place on ``labels``/``instances``).
    """
    xs, ys, zs = (grid.centres(a, 0, grid.size[a]) for a in range(3))
    surface = ground.z(xs[:, None], ys[None, :])
    below = zs[None, None, :] <= surface[:, :, None]
    cls = np.full(surface.shape, rng.choice(GROUND_CLASSES), dtype=np.uint16)
    inst = np.full(surface.shape, instances.max() + 1, dtype=np.int32)
    for num in range(int(rng.integers(2, 6))):
        x0, x1 = np.sort(rng.uniform(xs[0], xs[-1], size=2))
        y0, y1 = np.sort(rng.uniform(ys[0], ys[-1], size=2))
        patch = ((xs[:, None] >= x0) & (xs[:, None] <= x1) &
                 (ys[None, :] >= y0) & (ys[None, :] <= y1))
        cls[patch] = rng.choice(GROUND_CLASSES)
        inst[patch] = instances.max() + 2 + num
    fill = below & (labels == 0)
    labels[fill] = np.broadcast_to(cls[:, :, None], labels.shape)[fill]
    instances[fill] = np.broadcast_to(inst[:, :, None], labels.shape)[fill]


def camera_observation(occupied: np.ndarray, grid: Grid, lidar2img: np.ndarray,
                       depth: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Voxels one camera observes, from its depth map.

    An empty voxel is observed when its centre projects into the image in
    front of the camera and is not farther (camera z) than the depth at that
    pixel plus half a voxel, or the pixel's ray leaves the grid (depth 0). An
    occupied voxel is observed when a pixel's ray hits it or it shares a face
    with an observed empty voxel (the lidar's rule in
    :func:`~tools.dataset_converters.synthetic_sensors.lidar_observation`).

    Args:
        occupied: Bool ``(X, Y, Z)``.
        grid: The voxel grid.
        lidar2img: ``(4, 4)`` velodyne -> pixel matrix of the camera.
        depth: ``(H, W)`` camera z of the first surface, 0 where none.

    Returns:
        tuple: bool ``observed`` ``(X, Y, Z)`` and ``hits`` (occupied voxels
        hit by a pixel ray).
    """
    height, width = depth.shape
    centres = np.stack(
        np.meshgrid(
            *(grid.centres(a, 0, grid.size[a]) for a in range(3)),
            indexing='ij'), -1).reshape(-1, 3)
    pix = centres @ lidar2img[:3, :3].T + lidar2img[:3, 3]
    z = pix[:, 2]
    safe = np.where(z > 1e-6, z, 1.0)
    u = np.round(pix[:, 0] / safe).astype(np.int64)
    v = np.round(pix[:, 1] / safe).astype(np.int64)
    inside = (z > 1e-6) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    d = depth[np.clip(v, 0, height - 1), np.clip(u, 0, width - 1)]
    free_seen = (inside & (
        (d <= 0) |
        (z <= d + 0.5 * grid.voxel_size))).reshape(grid.size) & ~occupied
    # the hit voxel of every pixel: just behind the surface along its ray
    inv = np.linalg.inv(lidar2img)
    vv, uu = np.nonzero(depth > 0)
    t = depth[vv, uu].astype(np.float64) + 1e-3 * grid.voxel_size
    points = np.stack([uu * t, vv * t, t, np.ones_like(t)], 1) @ inv.T
    idx = np.floor((points[:, :3] - np.asarray(grid.origin)) /
                   grid.voxel_size).astype(np.int64)
    keep = ((idx >= 0) & (idx < np.array(grid.size))).all(1)
    hits = np.zeros(grid.size, dtype=bool)
    hits[tuple(idx[keep].T)] = True
    hits &= occupied
    observed = free_seen | hits | (occupied & face_neighbours(free_seen))
    return observed, hits


def make_benchmark_frame(prims: Sequence[st.Primitive], ground: GroundPlane,
                         grid: Grid, calib: Dict[str, np.ndarray],
                         image_size: Sequence[int], rng: np.random.Generator,
                         noise_seed: Sequence[int]) -> Frame:
    """Voxelise, render and observe one benchmark scene."""
    street = st.Street(list(prims), 0.0, int(rng.integers(1 << 30)))
    labels, instances = voxelize(street, grid, 0.0, 0)
    paint_ground(labels, instances, grid, ground, rng)
    occupied = labels != 0
    radius = free_radius(occupied)
    lidar2img, images, depths = render_stereo(labels, instances, radius, grid,
                                              calib, image_size, noise_seed)
    observed, hits = camera_observation(occupied, grid, lidar2img[0],
                                        depths[0])
    return Frame(
        labels=labels,
        invalid=~observed,
        occluded=~observed,
        scan=hits,
        images=(images[0], images[1]),
        depth=depths[0])


def generate_benchmark(
        out_dir: str,
        sequences: Sequence[str] = ('00', ),
        frames: int = 4,
        seed: int = 0,
        image_size: Sequence[int] = BENCHMARK_IMAGE_SIZE,
        grid_size: Sequence[int] = BENCHMARK_GRID_SIZE,
        voxel_size: float = BENCHMARK_VOXEL_SIZE,
        depth_root: Optional[str] = None,
        log: Optional[Callable[[str], None]] = None) -> List[float]:
    """Write the synthetic stereo benchmark in the SemanticKITTI layout.

    The files are those of
    :func:`tools.dataset_converters.synthetic_kitti.generate_dataset`; the
    scenes and the observation are described in the module docstring.

    Args:
        out_dir: Dataset root (the folder that will hold ``sequences/``).
        sequences: Two-digit sequence names.
        frames: Frames (independent scenes) per sequence.
        seed: Random seed; the same seed writes the same bytes.
        image_size: ``(H, W)``; intrinsics are scaled from KITTI's crop.
        grid_size: Voxel grid ``(X, Y, Z)``.
        voxel_size: Voxel edge in metres; the origin is
            :func:`benchmark_origin`.
        depth_root: Root of the depth maps, default ``{out_dir}/depth``.
        log: Called with one line per written frame.

    Returns:
        Seconds spent on each frame.
    """
    check_arguments(frames, image_size, grid_size, voxel_size, sequences)
    grid = Grid(
        tuple(int(n) for n in grid_size), float(voxel_size),
        benchmark_origin(grid_size, voxel_size))
    extent = (grid.size[0] * grid.voxel_size, grid.size[1] * grid.voxel_size)
    depth_root = depth_root or os.path.join(out_dir, 'depth')
    seconds = []
    for seq in sequences:
        num = sequence_number(seq)
        seq_dir, depth_dir, calib = start_sequence(out_dir, depth_root, seq,
                                                   image_size)
        write_poses(seq_dir, calib, 0.0, FRAME_STEP * (frames - 1) + 1)
        for index in range(frames):
            start = time.perf_counter()
            rng = np.random.default_rng([seed, num, index])
            ground = make_ground(rng)
            prims = make_objects(rng, ground, extent)
            frame = make_benchmark_frame(prims, ground, grid, calib,
                                         image_size, rng, (seed, num, index))
            frame_id = f'{FRAME_STEP * index:06d}'
            write_frame(frame, seq_dir, depth_dir, frame_id)
            seconds.append(time.perf_counter() - start)
            if log is not None:
                log(f'sequence {seq} frame {frame_id}: '
                    f'{seconds[-1]:.2f} s')
    return seconds
