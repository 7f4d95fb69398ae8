"""A tiny SSCBench-KITTI-360 tree in the benchmark's raw layout and formats.

``calibration/perspective.txt`` and ``calib_cam_to_velo.txt`` in KITTI-360's
text formats, 8-bit RGB ``data_rect`` PNGs, bit-packed ``voxels/*.bin``,
uint16 ``.label`` and byte-per-voxel ``.invalid`` files, float32 x 4
velodyne scans named with 10 digits.

Calibration, chosen so that projections are exact by hand:

- ``cam_to_velo``: velodyne x = camera z + 0.5, y = -camera x, z = -camera
  y - 0.2 (the KITTI axis permutation);
- ``R_rect_00``: a rotation about the camera's y axis with cos 0.8, sin 0.6
  (rectified = R_rect_00 @ unrectified);
- ``P_rect_0v``: f = 20 px, principal point (20, 12), images 24 x 40;
  ``P_rect_01[0, 3] = -f * b`` with the baseline b = 0.6 m.

The velodyne point (9.1, 5.2, 0.8) is (-5.2, -1, 8.6) in the unrectified
camera and (1, -1, 10) in the rectified one: it lands on pixel (22, 10) of
the left view and (20.8, 10) of the right view (f * b / z = 1.2 px left),
at depth 10 m.
"""
import os

import numpy as np
from PIL import Image

from projects.OccDepth.occdepth.datasets import io

IMG_HW = (24, 40)
FOCAL = 20.0
BASELINE = 0.6
CAM_TO_VELO = np.array([[0.0, 0, 1, 0.5], [-1, 0, 0, 0], [0, -1, 0, -0.2]])
R_RECT_00 = np.array([[0.8, 0, 0.6], [0, 1, 0], [-0.6, 0, 0.8]])
P_RECT_00 = np.array([[FOCAL, 0, 20, 0], [0, FOCAL, 12, 0], [0, 0, 1, 0]])
P_RECT_01 = P_RECT_00 + np.array([[0, 0, 0, -FOCAL * BASELINE], [0, 0, 0, 0],
                                  [0, 0, 0, 0]])
# A rotation rectifying camera 01 (not used by the projection: points reach
# the right view through camera 00).
R_RECT_01 = np.array([[1.0, 0, 0], [0, 0.8, -0.6], [0, 0.6, 0.8]])
KNOWN_POINT = (9.1, 5.2, 0.8)
KNOWN_LEFT_PIXEL = (22.0, 10.0)
KNOWN_RIGHT_PIXEL = (20.8, 10.0)
KNOWN_DEPTH = 10.0


def _numbers(values) -> str:
    return ' '.join(f'{x:.12e}' for x in np.asarray(values).reshape(-1))


def write_perspective(path: str, p_rect_01=P_RECT_01) -> None:
    """``perspective.txt`` as KITTI-360 ships it (unrectified intrinsics,
    distortion and stereo extrinsics first, then the rectified matrices)."""
    h, w = IMG_HW
    lines = ['calib_time: 09-Jan-2012 13:57:47', 'corner_dist: 9.950000e-02']
    rectified = ((P_RECT_00, R_RECT_00), (p_rect_01, R_RECT_01))
    for cam, (p_rect, r_rect) in enumerate(rectified):
        lines += [
            f'S_0{cam}: {_numbers([w, h])}',
            f'K_0{cam}: {_numbers(P_RECT_00[:, :3])}',
            f'D_0{cam}: {_numbers([-0.34, 0.16, 0.0004, 0.0009, -0.04])}',
            f'R_0{cam}: {_numbers(np.eye(3))}',
            f'T_0{cam}: {_numbers([-BASELINE * cam, 0, 0])}',
            f'S_rect_0{cam}: {_numbers([w, h])}',
            f'R_rect_0{cam}: {_numbers(r_rect)}',
            f'P_rect_0{cam}: {_numbers(p_rect)}',
        ]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def write_calibration(root: str) -> None:
    """``calibration/`` of a KITTI-360 folder."""
    calib_dir = os.path.join(root, 'calibration')
    os.makedirs(calib_dir, exist_ok=True)
    write_perspective(os.path.join(calib_dir, 'perspective.txt'))
    with open(os.path.join(calib_dir, 'calib_cam_to_velo.txt'), 'w') as f:
        f.write(_numbers(CAM_TO_VELO) + '\n')


def fixture_labels(grid):
    """Raw ids and invalid mask of a labelled frame of shape ``grid``.

    Road (40) on the two lowest layers, a car (10) block, an
    other-structure (52) column, a trunk (71, ignored by the benchmark)
    voxel, and an invalid plane at the last x, where the road and one car
    voxel keep their labels (non-zero raw ids are never invalid).
    """
    x, y, z = grid
    raw = np.zeros(grid, dtype=np.uint16)
    raw[:, :, :2] = 40
    raw[x // 4:x // 2, y // 4:y // 2, 2:4] = 10
    raw[x // 2, y // 2, 2:] = 52
    raw[0, 0, 2] = 71
    raw[x - 1, 0, 3] = 10
    invalid = np.zeros(grid, dtype=np.uint8)
    invalid[x - 1] = 1
    return raw, invalid


def make_kitti360(root: str,
                  drives: dict,
                  grid=(16, 16, 8),
                  img_hw=IMG_HW,
                  scans: bool = False) -> str:
    """Write a KITTI-360 folder.

    Args:
        root: The ``KITTI-360`` folder to create.
        drives: ``{'06': ['000000', '000005'], ...}``.
        grid: Voxel grid of the label files.
        img_hw: Image size.
        scans: Also write a velodyne scan (holding :data:`KNOWN_POINT`) per
            frame.
    """
    write_calibration(root)
    raw, invalid = fixture_labels(grid)
    for seq, frames in drives.items():
        drive = f'2013_05_28_drive_{int(seq):04d}_sync'
        drive_dir = os.path.join(root, 'data_2d_raw', drive)
        voxel_dir = os.path.join(drive_dir, 'voxels')
        os.makedirs(voxel_dir, exist_ok=True)
        for i, frame in enumerate(frames):
            vox = os.path.join(voxel_dir, frame)
            io.write_voxel_bits(f'{vox}.bin', raw > 0)
            io.write_label(f'{vox}.label', raw)
            invalid.tofile(f'{vox}.invalid')
            for view in (0, 1):
                img_dir = os.path.join(drive_dir, f'image_0{view}',
                                       'data_rect')
                os.makedirs(img_dir, exist_ok=True)
                img = np.random.RandomState(10 * i + view).randint(
                    0, 256, size=(*img_hw, 3), dtype=np.uint8)
                Image.fromarray(img).save(
                    os.path.join(img_dir, f'{frame}.png'))
            if scans:
                scan_dir = os.path.join(root, 'data_3d_raw', drive,
                                        'velodyne_points', 'data')
                os.makedirs(scan_dir, exist_ok=True)
                np.array([[*KNOWN_POINT, 0.5]], dtype=np.float32).tofile(
                    os.path.join(scan_dir, f'{int(frame):010d}.bin'))
    return root
