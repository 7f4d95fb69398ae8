"""SSCBench-KITTI-360: LiDAR depth maps of both rectified views (offline).

KITTI-360 ships no stereo depth maps, so the OAD distillation of
``configs/occdepth_kitti360.py`` reads LiDAR depth maps (the "Lidar Depth"
source of Table 4(c)): each scan
``data_3d_raw/{drive}/velodyne_points/data/{frame:010d}.bin`` is projected
into ``image_00`` and ``image_01`` (``data_rect``) through the calibration
of :mod:`projects.OccDepth.occdepth.datasets.kitti360_calibration`, a pixel
keeping its nearest return (``datasets/lidar_depth.py``). The maps are the
16-bit PNGs of the SemanticKITTI LiDAR depth (metres * 256, 0 = no return),
written to ``{out_dir}/{drive}/depth_00|depth_01/{frame}.png``, where
``Kitti360SSCDataset(depth_root=out_dir)`` finds them. Run by
``tools/create_data.py kitti360-lidar-depth``.
"""
import os
from typing import Sequence

from projects.OccDepth.occdepth.datasets.kitti360 import (DEPTH_DIRS,
                                                          IMAGE_DIRS,
                                                          drive_name)
from projects.OccDepth.occdepth.datasets.kitti360_calibration import \
    read_calibration
from projects.OccDepth.occdepth.datasets.lidar_depth import \
    write_scan_depth_maps


def velodyne_path(data_root: str, drive: str, frame: str) -> str:
    """Scan of a benchmark frame: KITTI-360 names scans with 10 digits."""
    return os.path.join(data_root, 'data_3d_raw', drive, 'velodyne_points',
                        'data', f'{int(frame):010d}.bin')


def create_kitti360_lidar_depth(data_root: str, out_dir: str,
                                sequences: Sequence[str]) -> int:
    """Write the LiDAR depth map of both views of every benchmark frame.

    For each ``voxels/{frame}.bin`` of a drive, the scan
    (:func:`velodyne_path`) is projected into both rectified views and
    written to ``{out_dir}/{drive}/{DEPTH_DIRS[v]}/{frame}.png`` at the size
    of its image file.

    Args:
        data_root: The ``KITTI-360`` folder (``calibration/``,
            ``data_2d_raw/``, ``data_3d_raw/``).
        out_dir: The ``depth_root`` to write.
        sequences: Drives (``'06'``).

    Returns:
        Number of frames written (each with one map per view).

    Raises:
        FileNotFoundError: naming a missing ``voxels/`` folder, scan or
            image file.
    """
    cam2img, lidar2cam = read_calibration(data_root)
    written = 0
    for seq in sequences:
        drive = drive_name(seq)
        drive_dir = os.path.join(data_root, 'data_2d_raw', drive)
        voxel_dir = os.path.join(drive_dir, 'voxels')
        if not os.path.isdir(voxel_dir):
            raise FileNotFoundError(f'{voxel_dir} not found')
        frames = sorted(n[:-4] for n in os.listdir(voxel_dir)
                        if n.endswith('.bin'))
        out_dirs = [os.path.join(out_dir, drive, d) for d in DEPTH_DIRS]
        for path in out_dirs:
            os.makedirs(path, exist_ok=True)
        for frame in frames:
            name = f'{frame}.png'
            write_scan_depth_maps(
                velodyne_path(data_root, drive, frame), cam2img, lidar2cam,
                [os.path.join(drive_dir, d, name) for d in IMAGE_DIRS],
                [os.path.join(path, name) for path in out_dirs])
            written += 1
    return written
