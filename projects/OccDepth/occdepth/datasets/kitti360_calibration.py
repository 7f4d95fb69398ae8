"""KITTI-360 calibration of the rectified stereo pair (SSCBench-KITTI-360).

``data_root/calibration/`` of KITTI-360 holds the two files read here:

* ``perspective.txt``: ``KEY: numbers`` lines, of which ``P_rect_00`` /
  ``P_rect_01`` (the 3x4 projections of the rectified views) and
  ``R_rect_00`` (the 3x3 rectifying rotation of camera 00) are used;
* ``calib_cam_to_velo.txt``: the rigid transform from (unrectified) camera
  00 to the velodyne, 12 numbers of a row-major 3x4.

:func:`kitti360_stereo_calibration` composes them into the per-view
``cam2img`` / ``lidar2cam`` of the SemanticKITTI dataset
(:func:`~projects.OccDepth.occdepth.datasets.semantickitti.stereo_calibration`).
"""
import os
from typing import Dict, Tuple

import numpy as np

from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration

PERSPECTIVE_FILE = os.path.join('calibration', 'perspective.txt')
CAM_TO_VELO_FILE = os.path.join('calibration', 'calib_cam_to_velo.txt')
_PERSPECTIVE_SHAPES = {
    'P_rect_00': (3, 4),
    'P_rect_01': (3, 4),
    'R_rect_00': (3, 3)
}


def _numbers(path: str, lineno: int, key: str, text: str,
             count: int) -> np.ndarray:
    """``count`` finite numbers of ``text`` (the ``key`` entry at
    ``path:lineno``), else a ValueError naming them."""
    try:
        values = np.array([float(x) for x in text.split()], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f'{path}:{lineno}: {key} has a value that is not a '
                         f'number') from exc
    if values.size != count:
        raise ValueError(f'{path}:{lineno}: {key} has {values.size} numbers, '
                         f'expected {count}')
    if not np.all(np.isfinite(values)):
        raise ValueError(f'{path}:{lineno}: {key} holds non-finite values')
    return values


def read_perspective(path: str) -> Dict[str, np.ndarray]:
    """Read ``P_rect_00``, ``P_rect_01`` and ``R_rect_00`` of KITTI-360's
    ``calibration/perspective.txt`` (``KEY: numbers`` lines; the other keys,
    e.g. ``calib_time`` or the unrectified ``K_00``, are not read).

    Returns:
        ``P_rect_00`` / ``P_rect_01`` float64 ``(3, 4)``, ``R_rect_00``
        ``(3, 3)``.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: naming the file and line of a malformed entry, or the
            missing keys.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'calibration file not found: {path}')
    calib = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            key, _, values = line.partition(':')
            key = key.strip()
            if key in _PERSPECTIVE_SHAPES:
                shape = _PERSPECTIVE_SHAPES[key]
                calib[key] = _numbers(path, lineno, key, values,
                                      int(np.prod(shape))).reshape(shape)
    missing = [k for k in _PERSPECTIVE_SHAPES if k not in calib]
    if missing:
        raise ValueError(f'{path}: missing calibration key(s) '
                         f'{", ".join(missing)}')
    return calib


def read_cam_to_velo(path: str) -> np.ndarray:
    """Read ``calibration/calib_cam_to_velo.txt``: the rigid transform from
    (unrectified) camera 00 to the velodyne, 12 numbers of a row-major 3x4.

    Returns:
        float64 ``(4, 4)``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'calibration file not found: {path}')
    with open(path) as f:
        text = f.read()
    mat = np.eye(4)
    mat[:3] = _numbers(path, 1, 'the camera -> velodyne transform', text,
                       12).reshape(3, 4)
    rot = mat[:3, :3]
    if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-4):
        raise ValueError(f'{path}: the 3x3 block is not a rotation (R^T R '
                         f'differs from the identity by '
                         f'{np.abs(rot.T @ rot - np.eye(3)).max():.2g})')
    return mat


def kitti360_stereo_calibration(
        perspective: Dict[str, np.ndarray],
        cam_to_velo: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Intrinsics and velodyne -> camera transforms of both rectified views.

    A velodyne point ``X`` reaches rectified image ``v`` through::

        x_v = P_rect_0v @ R_rect_00 @ inv(cam_to_velo) @ X

    ``inv(cam_to_velo)`` takes it to the unrectified camera 00,
    ``R_rect_00`` rotates it into the rectified frame of camera 00 (the
    frame both ``data_rect`` images share) and ``P_rect_0v`` projects it
    into view ``v``: ``P_rect_01[0, 3] = -f * b`` holds the stereo baseline
    ``b``, so ``lidar2cam[1]`` is ``lidar2cam[0]`` shifted by ``-b`` along x
    and a point at depth ``z`` lands ``f * b / z`` pixels further left in
    the right view. ``R_rect_01`` is not used: it rectifies points given in
    camera 01's own frame, and points here reach the cameras through camera
    00. (The benchmark's MonoScene loader, ``kitti_360_dataset.py``,
    projects with ``P_rect_00 @ inv(cam_to_velo)``, leaving out
    ``R_rect_00``.) The result goes through :func:`stereo_calibration`, so
    ``K_v T_v`` equals the product above exactly.

    Args:
        perspective: :func:`read_perspective` output.
        cam_to_velo: :func:`read_cam_to_velo` output.

    Returns:
        tuple: ``cam2img`` ``(2, 3, 3)`` and ``lidar2cam`` ``(2, 4, 4)``,
        float64.
    """
    rect = np.eye(4)
    rect[:3, :3] = perspective['R_rect_00']
    velo_to_rect = rect @ np.linalg.inv(cam_to_velo)
    return stereo_calibration(
        dict(
            P2=perspective['P_rect_00'],
            P3=perspective['P_rect_01'],
            Tr=velo_to_rect[:3]))


def read_calibration(data_root: str) -> Tuple[np.ndarray, np.ndarray]:
    """``cam2img`` and ``lidar2cam`` from ``data_root/calibration/``."""
    return kitti360_stereo_calibration(
        read_perspective(os.path.join(data_root, PERSPECTIVE_FILE)),
        read_cam_to_velo(os.path.join(data_root, CAM_TO_VELO_FILE)))
