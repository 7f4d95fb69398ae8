"""SemanticTartanAir: SSC labels from TartanAir's raw layout, and the dataset.

The paper (Sec. 4.1) builds "SemanticTartanAir" from TartanAir's ``office``
scene: every 5th frame, 14 classes, 1976 / 192 train / test frames. The
reference release ships an incomplete exporter (reference Sec. 9.6); this
module is a complete one plus the dataset class.

Raw layout (read-only input)::

    {data_root}/{scene}/{Easy|Hard}/{Pxxx}/
        image_left/{frame}_left.png      image_right/{frame}_right.png
        depth_left/{frame}_left_depth.npy   float32 metres, z (planar) depth
        seg_left/{frame}_left_seg.npy       uint8 segmentation ids
        pose_left.txt  pose_right.txt       one line per frame:
                                            tx ty tz qx qy qz qw
                                            (north-east-down)

Camera: ``K = [[320, 0, 320], [0, 320, 240], [0, 0, 1]]``, 640 x 480, stereo
baseline 0.25 m (rectified, right camera 0.25 m to the right).

Exported layout (written by :func:`export_ssc_labels`)::

    {out_dir}/{scene}/class_map.json          the seg id -> class map used
    {out_dir}/{scene}/{diff}/{Pxxx}/voxels/
        {frame}_1_1.npy   uint8 (120, 48, 120) labels, 0 empty, 1..13
                          classes, 255 unobserved
        {frame}_1_4.npy   uint8 (30, 12, 30), pooled with
                          :func:`~.voxel_labels.downsample_labels`
        {frame}_1_8.npy   uint8 (15, 6, 15), the context-prior target
        {frame}.json      calibration: ``cam2img`` (2, 3, 3), ``lidar2cam``
                          (2, 4, 4) voxel frame -> left / right camera,
                          ``voxel_origin``, ``voxel_size``, ``grid_size``,
                          ``frame_id``, ``pose_left`` (the raw pose line)

Decisions taken here where the reference is silent or broken:

* **Frames**: ``{frame}`` is the 6-digit index of the depth file; a frame is
  exported when ``int(frame) % frame_step == 0`` (the reference's rule) and
  its pose is line ``int(frame)`` of the pose files.
* **Camera axes**: TartanAir poses are ``T_world_body`` of a
  north-east-down body (x forward along the optical axis, y right, z down)
  in a north-east-down world whose z axis points along gravity. The image
  camera frame (x right, y down, z forward) is ``p_cam = BODY_TO_CAM @
  p_body`` with ``BODY_TO_CAM = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]``.
* **Voxel frame** (the grid axes, ``lidar2cam`` maps it to the cameras): the
  left camera frame levelled by roll and pitch, yaw and translation removed,
  as in the reference: with ``R_wb = Rz(yaw) Ry(pitch) Rx(roll)`` the
  levelled body rotation is ``R_rp = Rz(-yaw) R_wb`` and a camera point maps
  to ``p_vox = BODY_TO_CAM R_rp BODY_TO_CAM^T p_cam``. Axis order of the grid
  ``(X, Y, Z)``: **x right, y down (gravity), z forward (horizontal)**,
  metres, the camera at the voxel-frame origin; grids stored in C order.
* **Grid**: 120 x 48 x 120 voxels of 0.1 m; ``voxel_origin = (-6, -3, 0)`` is
  the grid's minimum corner, so x covers [-6, 6] m, y [-3, 1.8] m (3 m above
  to 1.8 m below the camera) and z [0, 12] m ahead. Points are binned with
  ``floor((p - origin) / voxel_size)``. (The reference rounds with
  ``rint``, i.e. its voxel centres sit half a voxel lower; pass
  ``voxel_origin=(-6.05, -3.05, -0.05)`` to reproduce that binning.)
* **Classes** (:data:`TARTANAIR_CLASSES`): the 14 of the reference: empty,
  ceiling, floor, wall, window, chair, rug, sofa, screen, tvs, furn, clock,
  bonsai, objs. Segmentation ids are scene-specific; the map from ids to
  classes is an input (:func:`load_class_map`: a JSON object
  ``{class name: [seg ids]}``). The default :data:`TARTANAIR_OFFICE_SEG_IDS`
  is the office table of the reference (``occdepth/data/tartanair/
  params.py``); it lists id 231 under wall and window and 144 under wall
  and furn, and the reference's lookup keeps the last listing, so here
  231 -> window and 144 -> furn and each id appears once. Ids not listed
  map to 13 ``objs``, as in the reference.
* **Surface labels**: every left-depth pixel with a valid depth (finite,
  > 0, <= ``max_depth`` when given) is back-projected and binned; a voxel
  holding points gets the majority class of its points, ties going to the
  smaller class id (the reference's argmax).
* **Observed / unobserved** (the reference has no 255): a voxel is
  observed-empty (0) when its centre projects (nearest pixel, rounding half
  to even) into the left image, in front of the camera, onto a pixel with a
  valid depth ``d`` and its camera depth is ``< d`` (the centre lies on
  that pixel's ray between the camera and the measured surface) and, when
  ``max_depth`` is given, ``<= max_depth``. Surface voxels keep their class
  whatever the free-space test says. Every other voxel (behind surfaces,
  outside the left frustum, beyond ``max_depth``, onto invalid depth) is
  255. The test is vectorised over all voxel centres at once, so there are
  no gaps between sampled rays. Only the left depth is used: voxels seen by
  the right camera alone stay 255.
* **Right camera**: ``lidar2cam[1] = T_right_left @ lidar2cam[0]`` with
  ``T_right_left`` from the two pose files (the reference dataset's choice,
  computed here per frame instead of once per trajectory) or, with
  ``right_camera='baseline'``, the ideal rectified rig
  ``x_right = x_left - 0.25``.
* **Splits** (reference dataset): train ``P000-P004, P006``, val/test
  ``P005``, of both the Easy and the Hard ``office`` trajectories (Hard P007
  is exported but belongs to no split). ``trajectories=`` overrides them.
* **Depth supervision**: the left depth ``.npy`` is exact ground truth;
  :class:`~.transforms.tartanair_loading.LoadTartanAirDepth` serves it as
  ``gt_depth``.
"""
import json
import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet3d.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from .label_maps import IGNORE_INDEX
from .voxel_labels import downsample_labels

TARTANAIR_CAM_K = np.array([[320.0, 0.0, 320.0], [0.0, 320.0, 240.0],
                            [0.0, 0.0, 1.0]])
TARTANAIR_IMAGE_HW = (480, 640)
TARTANAIR_BASELINE = 0.25
TARTANAIR_GRID_SIZE = (120, 48, 120)
TARTANAIR_VOXEL_SIZE = 0.1
TARTANAIR_VOXEL_ORIGIN = (-6.0, -3.0, 0.0)
TARTANAIR_FRAME_STEP = 5
TARTANAIR_DIFFICULTIES = ('Easy', 'Hard')
TARTANAIR_SPLITS: Dict[str, Tuple[str, ...]] = {
    'train': ('P000', 'P001', 'P002', 'P003', 'P004', 'P006'),
    'val': ('P005', ),
    'test': ('P005', ),
}
# Downsampling factors of the written label files.
LABEL_SCALES = (1, 4, 8)
RIGHT_CAMERA_SOURCES = ('pose', 'baseline')

# p_cam = BODY_TO_CAM @ p_body: camera (x right, y down, z forward) from a
# north-east-down body (x forward, y right, z down).
BODY_TO_CAM = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])

TARTANAIR_CLASSES = ('empty', 'ceiling', 'floor', 'wall', 'window', 'chair',
                     'rug', 'sofa', 'screen', 'tvs', 'furn', 'clock', 'bonsai',
                     'objs')
OBJS_CLASS = len(TARTANAIR_CLASSES) - 1

TARTANAIR_PALETTE = (
    (0, 0, 0),  # empty
    (120, 200, 220),  # ceiling
    (150, 110, 70),  # floor
    (215, 205, 180),  # wall
    (90, 160, 255),  # window
    (240, 140, 30),  # chair
    (170, 40, 90),  # rug
    (220, 50, 60),  # sofa
    (40, 200, 200),  # screen
    (30, 60, 140),  # tvs
    (180, 170, 40),  # furn
    (250, 230, 60),  # clock
    (60, 170, 70),  # bonsai
    (250, 120, 180),  # objs
)

# Office segmentation ids per class (reference params.py, duplicates
# resolved as its lookup does: 231 -> window, 144 -> furn).
TARTANAIR_OFFICE_SEG_IDS: Dict[str, Tuple[int, ...]] = {
    'ceiling': (22, 147),
    'floor': (139, ),
    'wall': (90, 133, 160, 172, 190, 193, 200, 208, 223, 224, 234, 239, 244),
    'window': (101, 146, 231),
    'chair': (211, ),
    'rug': (50, 207),
    'sofa': (120, 197),
    'screen': (125, 253),
    'tvs': (148, 158),
    'furn': (115, 144, 145, 152, 173, 185, 189, 205, 232),
    'clock': (28, ),
    'bonsai': (137, 249),
}

ClassMap = Mapping[str, Sequence[int]]

# --------------------------------------------------------------------------
# reading the raw layout
# --------------------------------------------------------------------------


def trajectory_dir(data_root: str, scene: str, difficulty: str,
                   trajectory: str) -> str:
    """``{data_root}/{scene}/{difficulty}/{trajectory}``."""
    return os.path.join(data_root, scene, difficulty, trajectory)


def raw_frame_paths(traj_dir: str, frame: str) -> Dict[str, str]:
    """Paths of the raw files of one frame of a trajectory folder."""
    return dict(
        image_left=os.path.join(traj_dir, 'image_left', f'{frame}_left.png'),
        image_right=os.path.join(traj_dir, 'image_right',
                                 f'{frame}_right.png'),
        depth=os.path.join(traj_dir, 'depth_left', f'{frame}_left_depth.npy'),
        seg=os.path.join(traj_dir, 'seg_left', f'{frame}_left_seg.npy'))


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


def read_tartanair_depth(path: str) -> np.ndarray:
    """Read a ``*_depth.npy`` as float32 ``(H, W)`` metres.

    Non-finite and non-positive values are returned as they are; callers
    decide what counts as valid.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'depth file not found: {path}')
    try:
        depth = np.load(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read depth array: {exc}') from exc
    if depth.ndim != 2 or depth.dtype.kind != 'f':
        raise ValueError(f'{path}: expected a 2D float depth map in metres, '
                         f'got {depth.dtype} of shape {depth.shape}')
    return depth.astype(np.float32, copy=False)


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


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------


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


def voxel_grid_centers(grid_size: Sequence[int], voxel_size: float,
                       voxel_origin: Sequence[float]) -> np.ndarray:
    """``(X*Y*Z, 3)`` float64 voxel centres in C order.

    The numpy twin of ``models.utils.geometry.voxel_centers``: voxel
    ``(i, j, k)`` has its centre at ``origin + (idx + 0.5) * voxel_size``.
    """
    axes = [np.arange(n, dtype=np.float64) for n in grid_size]
    idx = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1).reshape(-1, 3)
    return np.asarray(
        voxel_origin, dtype=np.float64) + (idx + 0.5) * voxel_size


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


def valid_depth_mask(depth: np.ndarray,
                     max_depth: Optional[float] = None) -> np.ndarray:
    """Finite, positive depths (and ``<= max_depth`` when given)."""
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        valid &= depth <= max_depth
    return valid


# --------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------


def load_class_map(class_map: Union[None, str, ClassMap] = None) -> ClassMap:
    """Read and check a segmentation-id -> class map.

    Args:
        class_map: None for :data:`TARTANAIR_OFFICE_SEG_IDS`, a path to a
            JSON object ``{class name: [seg ids]}``, or such a mapping.
            Class names are those of :data:`TARTANAIR_CLASSES` other than
            ``'empty'``; ids are integers in 0..255 and each id may appear
            under one class only. Ids not listed map to ``'objs'``.

    Returns:
        dict class name -> tuple of ids.
    """
    source = 'the class map'
    if class_map is None:
        return {k: tuple(v) for k, v in TARTANAIR_OFFICE_SEG_IDS.items()}
    if isinstance(class_map, str):
        source = class_map
        if not os.path.isfile(class_map):
            raise FileNotFoundError(f'class map file not found: {class_map}')
        try:
            with open(class_map) as f:
                class_map = json.load(f)
        except ValueError as exc:
            raise ValueError(f'{source}: not valid JSON: {exc}') from exc
    if not isinstance(class_map, Mapping):
        raise ValueError(f'{source}: expected an object {{class name: '
                         f'[seg ids]}}, got {type(class_map).__name__}')
    owner: Dict[int, str] = {}
    checked = {}
    for name, ids in class_map.items():
        if name not in TARTANAIR_CLASSES[1:]:
            raise ValueError(f'{source}: unknown class {name!r}; classes are '
                             f'{TARTANAIR_CLASSES[1:]}')
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise ValueError(f'{source}: class {name!r} needs a list of seg '
                             f'ids, got {ids!r}')
        for seg_id in ids:
            if (isinstance(seg_id, bool) or not isinstance(seg_id, int)
                    or not 0 <= seg_id <= 255):
                raise ValueError(f'{source}: class {name!r} lists {seg_id!r}'
                                 f'; seg ids are integers in 0..255')
            if owner.get(seg_id, name) != name:
                raise ValueError(f'{source}: seg id {seg_id} is listed under '
                                 f'both {owner[seg_id]!r} and {name!r}')
            owner[seg_id] = name
        checked[name] = tuple(sorted(set(ids)))
    return checked


def seg_class_lut(class_map: Union[None, str, ClassMap] = None) -> np.ndarray:
    """``(256,)`` uint8 lookup table seg id -> class id (unlisted -> objs)."""
    checked = load_class_map(class_map)
    lut = np.full(256, OBJS_CLASS, dtype=np.uint8)
    for name, ids in checked.items():
        lut[list(ids)] = TARTANAIR_CLASSES.index(name)
    return lut


def _check_grid(grid_size: Sequence[int], voxel_size: float,
                voxel_origin: Sequence[float]) -> Tuple[int, int, int]:
    grid = tuple(int(n) for n in grid_size)
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f'grid_size must be 3 positive sizes, got '
                         f'{tuple(grid_size)}')
    if not voxel_size > 0:
        raise ValueError(f'voxel_size must be positive, got {voxel_size}')
    if len(voxel_origin) != 3:
        raise ValueError(f'voxel_origin must have 3 values, got '
                         f'{tuple(voxel_origin)}')
    return grid


def surface_labels(points: np.ndarray, classes: np.ndarray,
                   grid_size: Sequence[int], voxel_size: float,
                   voxel_origin: Sequence[float],
                   num_classes: int) -> np.ndarray:
    """Majority class of the points in each voxel (0 where none).

    Args:
        points: ``(N, 3)`` voxel-frame points.
        classes: ``(N,)`` class ids in ``1 .. num_classes - 1``.
        grid_size: ``(X, Y, Z)``.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid.
        num_classes: Number of classes.

    Returns:
        uint8 grid; ties go to the smaller class id.
    """
    grid = _check_grid(grid_size, voxel_size, voxel_origin)
    idx = np.floor((points - np.asarray(voxel_origin, dtype=np.float64)) /
                   voxel_size).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(grid)), axis=1)
    flat = np.ravel_multi_index(idx[inside].T, grid)
    keys = flat * num_classes + classes[inside].astype(np.int64)
    keys, counts = np.unique(keys, return_counts=True)
    voxel, cls = np.divmod(keys, num_classes)
    # per voxel: largest count first, then the smaller class id
    order = np.lexsort((cls, -counts, voxel))
    voxel, cls = voxel[order], cls[order]
    first = np.ones(voxel.shape, dtype=bool)
    first[1:] = voxel[1:] != voxel[:-1]
    labels = np.zeros(int(np.prod(grid)), dtype=np.uint8)
    labels[voxel[first]] = cls[first]
    return labels.reshape(grid)


def observed_free_mask(depth: np.ndarray,
                       cam_k: np.ndarray,
                       lidar2cam: np.ndarray,
                       centers: np.ndarray,
                       max_depth: Optional[float] = None) -> np.ndarray:
    """Voxels whose centre lies between the camera and the observed surface.

    Args:
        depth: ``(H, W)`` z-depth of the camera.
        cam_k: ``(3, 3)`` intrinsics.
        lidar2cam: ``(4, 4)`` voxel frame -> camera.
        centers: ``(N, 3)`` voxel-frame centres (:func:`voxel_grid_centers`).
        max_depth: Centres deeper than this are not observed.

    Returns:
        Bool ``(N,)``: centre in front of the camera, projecting (nearest
        pixel, half to even) onto a valid-depth pixel ``d`` with camera depth
        ``< d``.
    """
    cam = centers @ lidar2cam[:3, :3].T + lidar2cam[:3, 3]
    z = cam[:, 2]
    front = z > 1e-6
    safe = np.where(front, z, 1.0)
    pix = cam @ cam_k.T
    u = np.rint(pix[:, 0] / safe)
    v = np.rint(pix[:, 1] / safe)
    h, w = depth.shape
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    free = np.zeros(len(centers), dtype=bool)
    ui = u[inside].astype(np.int64)
    vi = v[inside].astype(np.int64)
    d = depth[vi, ui]
    ok = valid_depth_mask(d) & (z[inside] < d)
    if max_depth is not None:
        ok &= z[inside] <= max_depth
    free[np.flatnonzero(inside)[ok]] = True
    return free


def ssc_labels_from_depth(depth: np.ndarray,
                          seg: np.ndarray,
                          lidar2cam: np.ndarray,
                          class_lut: np.ndarray,
                          cam_k: np.ndarray = TARTANAIR_CAM_K,
                          grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                          voxel_size: float = TARTANAIR_VOXEL_SIZE,
                          voxel_origin: Sequence[float] = (
                              TARTANAIR_VOXEL_ORIGIN),
                          max_depth: Optional[float] = None,
                          centers: Optional[np.ndarray] = None) -> np.ndarray:
    """Semantic voxel labels of one depth + segmentation frame.

    Args:
        depth: ``(H, W)`` z-depth in metres of the left camera.
        seg: ``(H, W)`` uint8 segmentation ids of the left camera.
        lidar2cam: ``(4, 4)`` voxel frame -> left camera.
        class_lut: ``(256,)`` seg id -> class id (:func:`seg_class_lut`).
        cam_k: Left intrinsics.
        grid_size: ``(X, Y, Z)``.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid in the voxel frame.
        max_depth: Depths beyond it are neither surfaces nor free space.
        centers: Precomputed :func:`voxel_grid_centers` of the grid.

    Returns:
        uint8 ``grid_size`` labels: surface voxels their majority class,
        observed free space 0, everything else 255.
    """
    grid = _check_grid(grid_size, voxel_size, voxel_origin)
    if depth.shape != seg.shape:
        raise ValueError(f'depth map {depth.shape} and segmentation '
                         f'{seg.shape} differ in size')
    if centers is None:
        centers = voxel_grid_centers(grid, voxel_size, voxel_origin)
    valid = valid_depth_mask(depth, max_depth)
    cam_points = backproject_depth(depth, cam_k)[valid]
    cam_to_vox = np.linalg.inv(lidar2cam)
    points = cam_points @ cam_to_vox[:3, :3].T + cam_to_vox[:3, 3]
    num_classes = len(TARTANAIR_CLASSES)
    surface = surface_labels(points, class_lut[seg[valid]], grid, voxel_size,
                             voxel_origin, num_classes)
    free = observed_free_mask(depth, cam_k, lidar2cam, centers,
                              max_depth).reshape(grid)
    labels = np.where(free, 0, IGNORE_INDEX).astype(np.uint8)
    occupied = surface > 0
    labels[occupied] = surface[occupied]
    return labels


# --------------------------------------------------------------------------
# exporter
# --------------------------------------------------------------------------


def label_dir(out_dir: str, scene: str, difficulty: str,
              trajectory: str) -> str:
    """``{out_dir}/{scene}/{difficulty}/{trajectory}/voxels``."""
    return os.path.join(out_dir, scene, difficulty, trajectory, 'voxels')


def _list_trajectories(data_root: str, scene: str,
                       difficulty: str) -> List[str]:
    diff_dir = os.path.join(data_root, scene, difficulty)
    if not os.path.isdir(diff_dir):
        return []
    return sorted(
        name for name in os.listdir(diff_dir) if name.startswith('P')
        and os.path.isdir(os.path.join(diff_dir, name)))


def export_trajectory(traj_dir: str,
                      out_dir: str,
                      class_lut: np.ndarray,
                      frame_step: int = TARTANAIR_FRAME_STEP,
                      cam_k: np.ndarray = TARTANAIR_CAM_K,
                      grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                      voxel_size: float = TARTANAIR_VOXEL_SIZE,
                      voxel_origin: Sequence[float] = TARTANAIR_VOXEL_ORIGIN,
                      max_depth: Optional[float] = None,
                      right_camera: str = 'pose',
                      baseline: float = TARTANAIR_BASELINE) -> List[str]:
    """Export the labels of one trajectory folder into ``out_dir``.

    See :func:`export_ssc_labels` for the arguments.

    Returns:
        The exported frame names.
    """
    if right_camera not in RIGHT_CAMERA_SOURCES:
        raise ValueError(f'right_camera must be one of '
                         f'{RIGHT_CAMERA_SOURCES}, got {right_camera!r}')
    grid = _check_grid(grid_size, voxel_size, voxel_origin)
    for factor in LABEL_SCALES:
        if any(n % factor for n in grid):
            raise ValueError(f'grid_size {grid} must be divisible by '
                             f'{factor} (labels are written at 1:'
                             f'{", 1:".join(map(str, LABEL_SCALES))})')
    cam_k = np.asarray(cam_k, dtype=np.float64)
    if cam_k.shape != (3, 3):
        raise ValueError(f'cam_k must be 3x3, got shape {cam_k.shape}')
    frames = list_frames(traj_dir, frame_step)
    left_path = os.path.join(traj_dir, 'pose_left.txt')
    right_path = os.path.join(traj_dir, 'pose_right.txt')
    poses_left = read_pose_lines(left_path)
    poses_right = (
        read_pose_lines(right_path) if right_camera == 'pose' else None)
    centers = voxel_grid_centers(grid, voxel_size, voxel_origin)
    os.makedirs(out_dir, exist_ok=True)
    for frame in frames:
        index = int(frame)
        for path, poses in ((left_path, poses_left), (right_path,
                                                      poses_right)):
            if poses is not None and index >= len(poses):
                raise ValueError(f'{path}: {len(poses)} poses, no pose for '
                                 f'frame {frame}')
        pose_left = pose_to_matrix(poses_left[index])
        pose_right = (
            pose_to_matrix(poses_right[index])
            if poses_right is not None else None)
        lidar2cam = stereo_lidar2cam(pose_left, pose_right, baseline)
        paths = raw_frame_paths(traj_dir, frame)
        depth = read_tartanair_depth(paths['depth'])
        seg = read_tartanair_seg(paths['seg'])
        if depth.shape != seg.shape:
            raise ValueError(f'{paths["seg"]}: segmentation of size '
                             f'{seg.shape} for a depth map of size '
                             f'{depth.shape}')
        labels = ssc_labels_from_depth(
            depth,
            seg,
            lidar2cam[0],
            class_lut,
            cam_k=cam_k,
            grid_size=grid,
            voxel_size=voxel_size,
            voxel_origin=voxel_origin,
            max_depth=max_depth,
            centers=centers)
        prefix = os.path.join(out_dir, frame)
        for factor in LABEL_SCALES:
            np.save(f'{prefix}_1_{factor}.npy',
                    downsample_labels(labels, factor))
        meta = dict(
            frame_id=frame,
            cam2img=np.stack([cam_k, cam_k]).tolist(),
            lidar2cam=lidar2cam.tolist(),
            voxel_origin=[float(o) for o in voxel_origin],
            voxel_size=float(voxel_size),
            grid_size=list(grid),
            image_hw=list(depth.shape),
            right_camera=right_camera,
            max_depth=max_depth,
            pose_left=poses_left[index].tolist())
        with open(f'{prefix}.json', 'w') as f:
            json.dump(meta, f, indent=1)
    return frames


def export_ssc_labels(data_root: str,
                      out_dir: str,
                      scene: str = 'office',
                      difficulties: Sequence[str] = TARTANAIR_DIFFICULTIES,
                      trajectories: Optional[Sequence[str]] = None,
                      frame_step: int = TARTANAIR_FRAME_STEP,
                      class_map: Union[None, str, ClassMap] = None,
                      cam_k: np.ndarray = TARTANAIR_CAM_K,
                      grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                      voxel_size: float = TARTANAIR_VOXEL_SIZE,
                      voxel_origin: Sequence[float] = TARTANAIR_VOXEL_ORIGIN,
                      max_depth: Optional[float] = None,
                      right_camera: str = 'pose',
                      baseline: float = TARTANAIR_BASELINE) -> Dict[str, int]:
    """Write SemanticTartanAir labels for a scene (layout: module doc).

    Args:
        data_root: Raw TartanAir root holding ``{scene}/``.
        out_dir: Output root.
        scene: Scene folder name.
        difficulties: ``Easy`` and/or ``Hard``.
        trajectories: Trajectory names (``P000``); None for every ``P*``
            folder found.
        frame_step: Export frames whose number is a multiple of it.
        class_map: Seg id -> class map (:func:`load_class_map`).
        cam_k: Intrinsics of both cameras (the real 640 x 480 ones by
            default; scale them for resized data).
        grid_size: ``(X, Y, Z)``; divisible by 8.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid in the voxel frame.
        max_depth: Depth limit of surfaces and free space, None for none.
        right_camera: ``'pose'`` (from ``pose_right.txt``) or
            ``'baseline'`` (ideal rig).
        baseline: Stereo baseline for ``right_camera='baseline'``.

    Returns:
        dict ``'{difficulty}/{trajectory}'`` -> number of exported frames.
    """
    checked_map = load_class_map(class_map)
    class_lut = seg_class_lut(checked_map)
    written: Dict[str, int] = {}
    for difficulty in difficulties:
        names = (
            list(trajectories) if trajectories is not None else
            _list_trajectories(data_root, scene, difficulty))
        for traj in names:
            traj_dir = trajectory_dir(data_root, scene, difficulty, traj)
            if not os.path.isdir(traj_dir):
                raise FileNotFoundError(
                    f'trajectory folder not found: {traj_dir}')
            frames = export_trajectory(
                traj_dir,
                label_dir(out_dir, scene, difficulty, traj),
                class_lut,
                frame_step=frame_step,
                cam_k=cam_k,
                grid_size=grid_size,
                voxel_size=voxel_size,
                voxel_origin=voxel_origin,
                max_depth=max_depth,
                right_camera=right_camera,
                baseline=baseline)
            written[f'{difficulty}/{traj}'] = len(frames)
    if not written:
        raise ValueError(f'no trajectories found under '
                         f'{os.path.join(data_root, scene)}/'
                         f'{{{",".join(difficulties)}}}/P*')
    os.makedirs(os.path.join(out_dir, scene), exist_ok=True)
    with open(os.path.join(out_dir, scene, 'class_map.json'), 'w') as f:
        json.dump({k: list(v) for k, v in checked_map.items()}, f, indent=1)
    return written


# --------------------------------------------------------------------------
# dataset
# --------------------------------------------------------------------------


def _read_frame_meta(path: str) -> dict:
    try:
        with open(path) as f:
            meta = json.load(f)
    except ValueError as exc:
        raise ValueError(f'{path}: not valid JSON: {exc}') from exc
    for key in ('cam2img', 'lidar2cam', 'voxel_origin', 'voxel_size',
                'grid_size'):
        if key not in meta:
            raise ValueError(f'{path}: missing key {key!r}; re-export with '
                             f'tools/create_tartanair_ssc.py')
    cam2img = np.asarray(meta['cam2img'], dtype=np.float64)
    lidar2cam = np.asarray(meta['lidar2cam'], dtype=np.float64)
    if cam2img.shape != (2, 3, 3) or lidar2cam.shape != (2, 4, 4):
        raise ValueError(f'{path}: expected cam2img (2, 3, 3) and lidar2cam '
                         f'(2, 4, 4), got {cam2img.shape} and '
                         f'{lidar2cam.shape}')
    meta['cam2img'] = cam2img
    meta['lidar2cam'] = lidar2cam
    return meta


@DATASETS.register_module()
class TartanAirSSCDataset(BaseDataset):
    """SemanticTartanAir SSC with the left/right colour images.

    Frames are the ``{frame}.json`` files written by
    :func:`export_ssc_labels` under ``label_root``; images (and the depth
    map for distillation) come from the raw TartanAir tree under
    ``data_root``. The labels are read by ``LoadSSCLabels`` from the
    exported ``{frame}_1_{f}.npy`` files (``label_cache_prefix``).

    Each data info holds ``img_paths`` (left, right), ``depth_path`` (left
    depth ``.npy``), ``label_path`` / ``label_cache_prefix``,
    ``invalid_path`` (None), ``cam2img`` ``(V, 3, 3)``, ``lidar2cam``
    ``(V, 4, 4)`` (levelled voxel frame -> camera v), ``sequence``
    (``{scene}_{difficulty}_{trajectory}``), ``frame_id``, ``grid_size``,
    ``voxel_size`` and ``voxel_origin``.

    Args:
        data_root: Raw TartanAir root (holds ``{scene}/``).
        label_root: Output root of :func:`export_ssc_labels`.
        scene: Scene name.
        difficulties: Difficulty folders to read.
        split: ``'train'`` (P000-P004, P006), ``'val'`` or ``'test'``
            (P005); ignored when ``trajectories`` is given.
        trajectories: Explicit trajectory names.
        pipeline: Transforms applied to every sample.
        test_mode: Whether the dataset is used for val/test.
        grid_size: Grid of the exported labels (checked against every
            frame's ``.json``).
        voxel_size: Voxel edge in metres (checked likewise).
        voxel_origin: Minimum corner of the grid (checked likewise).
        num_views: 2 for the stereo pair, 1 for the left image only.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(
        classes=TARTANAIR_CLASSES,
        palette=TARTANAIR_PALETTE,
        ignore_index=IGNORE_INDEX)

    def __init__(self,
                 data_root: str,
                 label_root: str,
                 scene: str = 'office',
                 difficulties: Sequence[str] = TARTANAIR_DIFFICULTIES,
                 split: Optional[str] = 'train',
                 trajectories: Optional[Sequence[str]] = None,
                 pipeline: Sequence[dict] = (),
                 test_mode: bool = False,
                 grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                 voxel_size: float = TARTANAIR_VOXEL_SIZE,
                 voxel_origin: Sequence[float] = TARTANAIR_VOXEL_ORIGIN,
                 num_views: int = 2,
                 **kwargs) -> None:
        if num_views not in (1, 2):
            raise ValueError(f'num_views must be 1 (left image) or 2 '
                             f'(stereo), got {num_views}')
        if trajectories is None:
            if split not in TARTANAIR_SPLITS:
                raise ValueError(f'split must be one of '
                                 f'{sorted(TARTANAIR_SPLITS)}, got {split!r}')
            trajectories = TARTANAIR_SPLITS[split]
        self.trajectories = tuple(str(t) for t in trajectories)
        self.difficulties = tuple(difficulties)
        self.scene = scene
        self.split = split
        self.label_root = label_root
        self.num_views = num_views
        self.grid_size = _check_grid(grid_size, voxel_size, voxel_origin)
        self.voxel_size = float(voxel_size)
        self.voxel_origin = tuple(float(o) for o in voxel_origin)
        super().__init__(
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def _check_meta(self, path: str, meta: dict) -> None:
        if (tuple(meta['grid_size']) != self.grid_size
                or not np.isclose(meta['voxel_size'], self.voxel_size)
                or not np.allclose(meta['voxel_origin'], self.voxel_origin)):
            raise ValueError(
                f'{path}: labels exported for grid {meta["grid_size"]} of '
                f'{meta["voxel_size"]} m from {meta["voxel_origin"]}, the '
                f'dataset expects {list(self.grid_size)} of '
                f'{self.voxel_size} m from {list(self.voxel_origin)}')

    def _trajectory_infos(self, difficulty: str, traj: str) -> List[dict]:
        vox_dir = label_dir(self.label_root, self.scene, difficulty, traj)
        if not os.path.isdir(vox_dir):
            return []
        raw_dir = trajectory_dir(self.data_root, self.scene, difficulty, traj)
        names = set(os.listdir(vox_dir))
        frames = sorted(n[:-5] for n in names if n.endswith('.json'))
        infos = []
        for frame in frames:
            meta_path = os.path.join(vox_dir, f'{frame}.json')
            meta = _read_frame_meta(meta_path)
            self._check_meta(meta_path, meta)
            if f'{frame}_1_1.npy' not in names:
                raise FileNotFoundError(
                    f'label file not found: '
                    f'{os.path.join(vox_dir, frame)}_1_1.npy')
            paths = raw_frame_paths(raw_dir, frame)
            img_paths = [paths['image_left'],
                         paths['image_right']][:self.num_views]
            for path in img_paths:
                if not os.path.isfile(path):
                    raise FileNotFoundError(f'image file not found: {path}')
            prefix = os.path.join(vox_dir, frame)
            infos.append(
                dict(
                    img_paths=img_paths,
                    depth_path=paths['depth'],
                    label_path=f'{prefix}_1_1.npy',
                    label_cache_prefix=prefix,
                    invalid_path=None,
                    cam2img=meta['cam2img'][:self.num_views],
                    lidar2cam=meta['lidar2cam'][:self.num_views],
                    sequence=f'{self.scene}_{difficulty}_{traj}',
                    frame_id=frame,
                    grid_size=self.grid_size,
                    voxel_size=self.voxel_size,
                    voxel_origin=self.voxel_origin))
        return infos

    def load_data_list(self) -> List[dict]:
        """Scan the exported ``voxels/*.json`` of every trajectory."""
        data_list, missing = [], []
        for difficulty in self.difficulties:
            for traj in self.trajectories:
                infos = self._trajectory_infos(difficulty, traj)
                if not infos:
                    missing.append(f'{difficulty}/{traj}')
                data_list.extend(infos)
        if not data_list:
            raise ValueError(
                f'no frames found under {self.label_root}: looked for '
                f'{self.scene}/{{{",".join(self.difficulties)}}}/'
                f'{{{",".join(self.trajectories)}}}/voxels/*.json (run '
                f'tools/create_tartanair_ssc.py)')
        if missing:
            print_log(
                f'{self.label_root}: no exported frames for '
                f'{", ".join(missing)}',
                logger='current',
                level=logging.WARNING)
        return data_list
