"""Sparse depth maps from LiDAR scans (the "LiDAR depth" row of Table 4c).

Each velodyne point is projected into the left camera with the calibration
of its sequence; a pixel keeps the nearest return. The maps are written as
16-bit PNGs (metres * 256, 0 = no return), the format of the stereo depth
maps, so either source plugs into the same distillation loss.
"""
import os
from typing import Sequence, Tuple

import numpy as np
import torch

from projects.OccDepth.occdepth.datasets.io import read_calib, write_depth_png
from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration
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


def create_lidar_depth(data_root: str, out_dir: str, sequences: Sequence[str],
                       img_hw: Tuple[int, int]) -> int:
    """Write ``{out_dir}/sequences/XX/depth/{frame}.png`` for every frame
    that has ``voxels/{frame}.bin`` (the benchmark's frames).

    Returns:
        Number of maps written.
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
        out_seq = os.path.join(out_dir, 'sequences', seq, 'depth')
        os.makedirs(out_seq, exist_ok=True)
        for frame in frames:
            scan = os.path.join(seq_dir, 'velodyne', f'{frame}.bin')
            if not os.path.isfile(scan):
                raise FileNotFoundError(f'{scan} not found (LiDAR depth '
                                        'needs the velodyne scans)')
            depth = lidar_depth_map(
                read_velodyne(scan), cam2img[0], lidar2cam[0], img_hw)
            write_depth_png(os.path.join(out_seq, f'{frame}.png'), depth)
            written += 1
    return written
