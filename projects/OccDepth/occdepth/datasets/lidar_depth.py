"""Sparse depth maps from LiDAR scans (the "LiDAR depth" row of Table 4c).

Each velodyne point is projected into both cameras (``image_2`` and
``image_3``) with the calibration of its sequence (``K_v T_v = P_v Tr``); a
pixel keeps the nearest return. Like the authors' LiDAR depth (one map per
view, ``kitti_dataset.py`` with ``use_lidar_depth_gt``), every view gets its
own map, so the distillation supervises both views. The maps are written as
16-bit PNGs (metres * 256, 0 = no return) at the size of their image, the
format of the stereo depth maps: view 0 under ``depth/`` (where the stereo
maps live), view 1 under ``depth_3/`` (:data:`DEPTH_DIRS`).
"""
import os
from typing import Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from projects.OccDepth.occdepth.datasets.io import read_calib, write_depth_png
from projects.OccDepth.occdepth.datasets.semantickitti import (
    DEPTH_DIRS, IMAGE_DIRS, stereo_calibration)
from projects.OccDepth.occdepth.models.utils import geometry


def read_velodyne(path: str) -> np.ndarray:
    """Read a KITTI ``velodyne/*.bin`` scan as ``(N, 3)`` float32 points."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise ValueError(f'{path}: {data.size} float32 values, expected a '
                         f'multiple of 4 (x, y, z, reflectance)')
    return data.reshape(-1, 4)[:, :3]


def lidar_depth_map(points: np.ndarray, cam2img: np.ndarray,
                    lidar2cam: np.ndarray, img_hw: Tuple[int,
                                                         int]) -> np.ndarray:
    """Nearest-return depth of the points in one camera.

    Args:
        points: ``(N, 3)`` points in the voxel (velodyne) frame.
        cam2img: ``(3, 3)`` intrinsics.
        lidar2cam: ``(4, 4)`` velodyne -> camera.
        img_hw: ``(H, W)`` of the map.

    Returns:
        ``(H, W)`` float32 metres, 0 where no point projects.
    """
    lidar2img = geometry.build_lidar2img(
        torch.as_tensor(cam2img, dtype=torch.float64),
        torch.as_tensor(lidar2cam, dtype=torch.float64))
    uv, depth = geometry.project_points(
        torch.as_tensor(points), lidar2img[None, None])
    pix = geometry.round_pixels(uv)[0, 0]
    depth = depth[0, 0]
    keep = geometry.in_image(pix, depth, img_hw)
    pix, depth = pix[keep].numpy(), depth[keep].numpy()
    height, width = img_hw
    flat = pix[:, 1] * width + pix[:, 0]
    out = np.full(height * width, np.inf)
    np.minimum.at(out, flat, depth)
    out[np.isinf(out)] = 0
    return out.reshape(height, width).astype(np.float32)


def _image_size(path: str) -> Tuple[int, int]:
    """``(H, W)`` of an image file (header only)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} not found (a LiDAR depth map takes '
                                'the size of its image)')
    with Image.open(path) as img:
        width, height = img.size
    return height, width


def write_scan_depth_maps(scan: str, cam2img: np.ndarray,
                          lidar2cam: np.ndarray, img_paths: Sequence[str],
                          out_paths: Sequence[str]) -> None:
    """Project one velodyne scan into each view and write its depth map.

    View ``v`` (``cam2img[v]``, ``lidar2cam[v]``) is written to
    ``out_paths[v]`` at the size of the image file ``img_paths[v]``.

    Raises:
        FileNotFoundError: naming the missing scan or image file.
    """
    if not os.path.isfile(scan):
        raise FileNotFoundError(f'{scan} not found (LiDAR depth needs the '
                                'velodyne scans)')
    points = read_velodyne(scan)
    for view, (img_path, out_path) in enumerate(zip(img_paths, out_paths)):
        depth = lidar_depth_map(points, cam2img[view], lidar2cam[view],
                                _image_size(img_path))
        write_depth_png(out_path, depth)


def create_lidar_depth(data_root: str, out_dir: str,
                       sequences: Sequence[str]) -> int:
    """Write the LiDAR depth map of every view of every benchmark frame.

    For each frame with ``voxels/{frame}.bin``, the scan
    ``velodyne/{frame}.bin`` is projected into ``image_2`` and ``image_3``
    and written to ``{out_dir}/sequences/XX/{DEPTH_DIRS[v]}/{frame}.png`` at
    the size of ``{IMAGE_DIRS[v]}/{frame}.png`` (uncropped, like the image
    files).

    Returns:
        Number of frames written (each with one map per view).
    """
    written = 0
    for seq in sequences:
        seq_dir = os.path.join(data_root, 'sequences', seq)
        voxel_dir = os.path.join(seq_dir, 'voxels')
        if not os.path.isdir(voxel_dir):
            raise FileNotFoundError(f'{voxel_dir} not found')
        cam2img, lidar2cam = stereo_calibration(
            read_calib(os.path.join(seq_dir, 'calib.txt')))
        frames = sorted(n[:-4] for n in os.listdir(voxel_dir)
                        if n.endswith('.bin'))
        out_dirs = [
            os.path.join(out_dir, 'sequences', seq, d) for d in DEPTH_DIRS
        ]
        for path in out_dirs:
            os.makedirs(path, exist_ok=True)
        for frame in frames:
            scan = os.path.join(seq_dir, 'velodyne', f'{frame}.bin')
            name = f'{frame}.png'
            write_scan_depth_maps(
                scan, cam2img, lidar2cam,
                [os.path.join(seq_dir, d, name) for d in IMAGE_DIRS],
                [os.path.join(path, name) for path in out_dirs])
            written += 1
    return written
