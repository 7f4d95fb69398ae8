"""Procedural street scenes written in the exact SemanticKITTI layout.

The generator is the data of the embedded demo and of the tests: it needs no
download, is deterministic (the same seed gives the same bytes) and carries a
real learning signal, because the images are rendered from the voxels. It is
offline tooling (``tools/create_synthetic_kitti.py``), not imported by the
plugin. The scene model is in
:mod:`~tools.dataset_converters.synthetic_streets`, voxelisation and ray
casting in :mod:`~tools.dataset_converters.synthetic_voxels`, the cameras and
the lidar in :mod:`~tools.dataset_converters.synthetic_sensors`; the KITTI
rig is ``projects.OccDepth.occdepth.datasets.kitti_calibration``.

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

A frame is the street seen from the ego position of its scan. The depth PNG
is the left camera's z-buffer. ``.invalid`` = observed from no scan point of
the simulated lidar (:mod:`~tools.dataset_converters.synthetic_sensors`):
building interiors, the ground under its top layer, the space behind walls
and everything shadowed along the whole path. ``.occluded`` is the same test
for the first scan point only, and ``.bin`` holds the voxels hit by that
first scan (the single-sweep input occupancy of the benchmark).
"""
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.kitti_calibration import (
    KITTI_IMAGE_SIZE, kitti_calib, sequence_number)
from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration
from projects.OccDepth.occdepth.models.utils.geometry import build_lidar2img
from tools.dataset_converters.synthetic_sensors import (lidar_observation,
                                                        render_view)
from tools.dataset_converters.synthetic_streets import Street, make_street
from tools.dataset_converters.synthetic_voxels import (Grid, free_radius,
                                                       voxelize)

KITTI_GRID_SIZE = (256, 256, 32)
KITTI_VOXEL_SIZE = 0.2
FRAME_STEP = 5


def default_origin(grid_size: Sequence[int],
                   voxel_size: float) -> Tuple[float, float, float]:
    """Grid origin: KITTI's ``(0, -25.6, -2)`` for any grid.

    The grid starts at the lidar (x = 0), is centred on it along y and starts
    2 m below it, so the KITTI grid gives the benchmark's origin.
    """
    return (0.0, -grid_size[1] * voxel_size / 2.0, -2.0)


@dataclass
class Frame:
    """Everything written for one frame."""
    labels: np.ndarray
    invalid: np.ndarray
    occluded: np.ndarray
    scan: np.ndarray
    images: Tuple[np.ndarray, np.ndarray]
    depth: np.ndarray


# (lidar2img of both views, their RGB images, their depth maps)
StereoViews = Tuple[np.ndarray, List[np.ndarray], List[np.ndarray]]


def render_stereo(labels: np.ndarray, instances: np.ndarray,
                  radius: np.ndarray, grid: Grid, calib: Dict[str, np.ndarray],
                  image_size: Sequence[int],
                  noise_seed: Tuple[int, ...]) -> StereoViews:
    """Render the left and right images and depth maps of a voxel scene.

    Returns:
        ``lidar2img`` (2, 4, 4) of the rig, the two RGB images and the two
        depth maps.
    """
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
    return lidar2img, images, depths


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
    lidar2img, images, depths = render_stereo(labels, instances, radius, grid,
                                              calib, image_size, noise_seed)
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


def write_poses(path: str, calib: Dict[str, np.ndarray], speed: float,
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


def check_arguments(frames: int, image_size: Sequence[int],
                    grid_size: Sequence[int], voxel_size: float,
                    sequences: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first bad generator argument."""
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


def start_sequence(
        out_dir: str, depth_root: str, seq: str,
        image_size: Sequence[int]) -> Tuple[str, str, Dict[str, np.ndarray]]:
    """Create a sequence's folders and write its ``calib.txt``.

    Returns:
        The sequence folder, its depth-map folder and its calibration.
    """
    seq_dir = os.path.join(out_dir, 'sequences', seq)
    depth_dir = os.path.join(depth_root, 'sequences', seq, 'depth')
    for sub in ('image_2', 'image_3', 'voxels'):
        os.makedirs(os.path.join(seq_dir, sub), exist_ok=True)
    os.makedirs(depth_dir, exist_ok=True)
    calib = kitti_calib(seq, image_size)
    io.write_calib(os.path.join(seq_dir, 'calib.txt'), calib)
    return seq_dir, depth_dir, calib


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
    check_arguments(frames, image_size, grid_size, voxel_size, sequences)
    grid = Grid(
        tuple(int(n) for n in grid_size), float(voxel_size),
        default_origin(grid_size, voxel_size))
    depth_root = depth_root or os.path.join(out_dir, 'depth')
    seconds = []
    for seq in sequences:
        num = sequence_number(seq)
        seq_dir, depth_dir, calib = start_sequence(out_dir, depth_root, seq,
                                                   image_size)
        extent = grid.size[0] * grid.voxel_size
        street = make_street(seed, seq,
                             1.3 * FRAME_STEP * frames + extent + 20.0)
        write_poses(seq_dir, calib, street.ego_speed,
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
