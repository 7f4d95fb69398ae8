"""TartanAir's raw layout and camera geometry, for the label exporter.

Raw layout (read-only input)::

    {data_root}/{scene}/{Easy|Hard}/{Pxxx}/
        image_left/{frame}_left.png      image_right/{frame}_right.png
        depth_left/{frame}_left_depth.npy   float32 metres, z (planar) depth
        seg_left/{frame}_left_seg.npy       uint8 segmentation ids
        pose_left.txt  pose_right.txt       one line per frame:
                                            tx ty tz qx qy qz qw
                                            (north-east-down)

Camera: ``K = [[320, 0, 320], [0, 320, 240], [0, 0, 1]]``, 640 x 480, stereo
baseline 0.25 m (rectified, right camera 0.25 m to the right). The frames
and axes are those of :mod:`~tools.dataset_converters.tartanair_ssc`
(module docstring). The paths and the depth reader that the dataset needs
too live in ``projects.OccDepth.occdepth.datasets.tartanair``.
"""
import os
from typing import List, Optional, Sequence

import numpy as np

TARTANAIR_CAM_K = np.array([[320.0, 0.0, 320.0], [0.0, 320.0, 240.0],
                            [0.0, 0.0, 1.0]])
TARTANAIR_BASELINE = 0.25

# p_cam = BODY_TO_CAM @ p_body: camera (x right, y down, z forward) from a
# north-east-down body (x forward, y right, z down).
BODY_TO_CAM = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def list_frames(traj_dir: str, frame_step: int = 1) -> List[str]:
    """Frames of a trajectory (from ``depth_left/``), every ``frame_step``.

    Args:
        traj_dir: Trajectory folder.
        frame_step: Keep frames whose number is a multiple of it.

    Returns:
        Sorted 6-digit frame names.
    """
    if frame_step < 1:
        raise ValueError(f'frame_step must be >= 1, got {frame_step}')
    depth_dir = os.path.join(traj_dir, 'depth_left')
    if not os.path.isdir(depth_dir):
        raise FileNotFoundError(f'depth folder not found: {depth_dir}')
    suffix = '_left_depth.npy'
    frames = []
    for name in os.listdir(depth_dir):
        if not name.endswith(suffix):
            continue
        frame = name[:-len(suffix)]
        if not frame.isdigit():
            raise ValueError(f'{os.path.join(depth_dir, name)}: frame name '
                             f'{frame!r} is not a number')
        if int(frame) % frame_step == 0:
            frames.append(frame)
    return sorted(frames)


def read_tartanair_seg(path: str) -> np.ndarray:
    """Read a ``*_seg.npy`` as uint8 ``(H, W)`` segmentation ids."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'segmentation file not found: {path}')
    try:
        seg = np.load(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read segmentation array: '
                         f'{exc}') from exc
    if seg.ndim != 2 or seg.dtype.kind not in 'ui':
        raise ValueError(f'{path}: expected a 2D integer segmentation map, '
                         f'got {seg.dtype} of shape {seg.shape}')
    if seg.size and (seg.min() < 0 or seg.max() > 255):
        raise ValueError(f'{path}: segmentation ids must lie in 0..255, got '
                         f'{seg.min()}..{seg.max()}')
    return seg.astype(np.uint8, copy=False)


def quaternion_to_matrix(quat: Sequence[float]) -> np.ndarray:
    """Rotation matrix of a quaternion ``(qx, qy, qz, qw)`` (scalar last).

    The quaternion is normalised first.
    """
    q = np.asarray(quat, dtype=np.float64)
    if q.shape != (4, ):
        raise ValueError(f'expected a quaternion (qx, qy, qz, qw), got shape '
                         f'{q.shape}')
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-8:
        raise ValueError(f'quaternion {tuple(q)} has no valid rotation')
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def pose_to_matrix(pose: Sequence[float]) -> np.ndarray:
    """4x4 ``T_world_body`` of a pose line ``tx ty tz qx qy qz qw``."""
    pose = np.asarray(pose, dtype=np.float64)
    mat = np.eye(4)
    mat[:3, :3] = quaternion_to_matrix(pose[3:7])
    mat[:3, 3] = pose[:3]
    return mat


def read_pose_lines(path: str) -> np.ndarray:
    """Read a TartanAir pose file as ``(N, 7)`` float64 rows."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'pose file not found: {path}')
    rows = []
    with open(path) as f:
        for num, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                values = [float(v) for v in line.split()]
            except ValueError as exc:
                raise ValueError(f'{path}:{num}: not a number: {exc}') from exc
            if len(values) != 7 or not np.all(np.isfinite(values)):
                raise ValueError(
                    f'{path}:{num}: expected 7 finite values '
                    f'"tx ty tz qx qy qz qw", got {line.strip()!r}')
            if np.linalg.norm(values[3:]) < 1e-8:
                raise ValueError(f'{path}:{num}: zero quaternion')
            rows.append(values)
    if not rows:
        raise ValueError(f'{path}: no poses')
    return np.asarray(rows, dtype=np.float64)


def remove_yaw(rotation: np.ndarray) -> np.ndarray:
    """Roll and pitch of a north-east-down body rotation, yaw removed.

    With ``R = Rz(yaw) Ry(pitch) Rx(roll)`` returns ``Ry(pitch) Rx(roll)``,
    i.e. ``Rz(-yaw) R`` with ``yaw = atan2(R[1, 0], R[0, 0])``.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    yaw = np.arctan2(rotation[1, 0], rotation[0, 0])
    c, s = np.cos(yaw), np.sin(yaw)
    unyaw = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return unyaw @ rotation


def camera_to_voxel_rotation(pose_left: np.ndarray) -> np.ndarray:
    """Rotation taking left-camera points to the levelled voxel frame.

    Args:
        pose_left: ``(4, 4)`` (or ``(3, 3)``) ``T_world_body`` of the left
            camera, north-east-down.

    Returns:
        ``(3, 3)`` ``BODY_TO_CAM @ remove_yaw(R_wb) @ BODY_TO_CAM.T``.
    """
    rot = np.asarray(pose_left, dtype=np.float64)[:3, :3]
    return BODY_TO_CAM @ remove_yaw(rot) @ BODY_TO_CAM.T


def camera_pose(pose_body: np.ndarray) -> np.ndarray:
    """``T_world_cam`` (camera axes) of a north-east-down ``T_world_body``.
    """
    body_from_cam = np.eye(4)
    body_from_cam[:3, :3] = BODY_TO_CAM.T
    return np.asarray(pose_body, dtype=np.float64) @ body_from_cam


def stereo_lidar2cam(pose_left: np.ndarray,
                     pose_right: Optional[np.ndarray] = None,
                     baseline: float = TARTANAIR_BASELINE) -> np.ndarray:
    """Voxel frame -> left and right camera transforms of one frame.

    Args:
        pose_left: ``(4, 4)`` ``T_world_body`` of the left camera.
        pose_right: ``(4, 4)`` ``T_world_body`` of the right camera, or
            None for the ideal rig (right camera ``baseline`` metres along
            the left camera's x axis).
        baseline: Stereo baseline in metres, used when ``pose_right`` is
            None.

    Returns:
        ``(2, 4, 4)`` float64: view 0 is ``[R^T | 0]`` with ``R`` from
        :func:`camera_to_voxel_rotation`, view 1 is ``T_right_left @``
        view 0.
    """
    left = np.eye(4)
    left[:3, :3] = camera_to_voxel_rotation(pose_left).T
    if pose_right is None:
        right_from_left = np.eye(4)
        right_from_left[0, 3] = -baseline
    else:
        right_from_left = np.linalg.inv(
            camera_pose(pose_right)) @ camera_pose(pose_left)
    return np.stack([left, right_from_left @ left])


def backproject_depth(depth: np.ndarray, cam_k: np.ndarray) -> np.ndarray:
    """Camera points ``(H, W, 3)`` of a z-depth map.

    Pixel ``(u, v)`` (centres at integer coordinates) with depth ``z`` maps
    to ``z * inv(K) @ (u, v, 1)``.
    """
    h, w = depth.shape
    v, u = np.meshgrid(
        np.arange(h, dtype=np.float64),
        np.arange(w, dtype=np.float64),
        indexing='ij')
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    rays = pix @ np.linalg.inv(cam_k).T
    return rays * depth.astype(np.float64)[..., None]
