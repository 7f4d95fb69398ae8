"""SemanticTartanAir: SSC labels exported from TartanAir's raw layout.

The paper (Sec. 4.1) builds "SemanticTartanAir" from TartanAir's ``office``
scene: every 5th frame, 14 classes, 1976 / 192 train / test frames. The
reference release ships an incomplete exporter (docs/reference-notes.md,
SemanticTartanAir exporter); this module is a complete one (offline
tooling, run by ``tools/create_tartanair_ssc.py``; the raw layout is read by
:mod:`~tools.dataset_converters.tartanair_raw`, one frame is labelled by
:mod:`~tools.dataset_converters.tartanair_labels`). The dataset class is
``projects.OccDepth.occdepth.datasets.tartanair.TartanAirSSCDataset``.

Exported layout (written by :func:`export_ssc_labels`)::

    {out_dir}/{scene}/class_map.json          the seg id -> class map used
    {out_dir}/{scene}/{diff}/{Pxxx}/voxels/
        {frame}_1_1.npy   uint8 (120, 48, 120) labels, 0 empty, 1..13
                          classes, 255 unobserved
        {frame}_1_4.npy   uint8 (30, 12, 30), pooled with
                          ``voxel_labels.downsample_labels``
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
  ``rint``, i.e. its voxel centres sit half a voxel lower:
  ``labelling='authors'`` below.)
* **Classes** (``label_maps.TARTANAIR_CLASSES``): the 14 of the reference:
  empty, ceiling, floor, wall, window, chair, rug, sofa, screen, tvs, furn,
  clock, bonsai, objs. Segmentation ids are scene-specific; the map from ids
  to classes is an input (:func:`load_class_map`: a JSON object
  ``{class name: [seg ids]}``). The default
  ``label_maps.TARTANAIR_OFFICE_SEG_IDS`` is the office table of the
  reference (``occdepth/data/tartanair/params.py``); it lists id 231 under
  wall and window and 144 under wall and furn, and the reference's lookup
  keeps the last listing, so here 231 -> window and 144 -> furn and each id
  appears once. Ids not listed map to 13 ``objs``, as in the reference.
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
* **Authors' labelling** (``labelling='authors'``, for numbers comparable
  with the paper's SemanticTartanAir table): as ``depth2voxel`` in the
  authors' ``occdepth/data/tartanair/export_voxels.py``, only surface
  voxels are labelled (majority class, ties to the smaller id) and every
  other voxel is 0 (empty): free space, voxels behind surfaces and voxels
  outside the view alike; there is no 255. Points are binned with
  ``np.rint((p - voxel_origin) / voxel_size)``, so voxel ``i`` holds the
  points within half a voxel of ``voxel_origin + i * voxel_size``. The
  default ``labelling='observed'`` is the rule above. The ``.json`` of a
  frame records the labelling.
* **Right camera**: ``lidar2cam[1] = T_right_left @ lidar2cam[0]`` with
  ``T_right_left`` from the two pose files (the reference dataset's choice,
  computed here per frame instead of once per trajectory) or, with
  ``right_camera='baseline'``, the ideal rectified rig
  ``x_right = x_left - 0.25``.
* **Splits** (reference dataset): train ``P000-P004, P006``, val/test
  ``P005``, of both the Easy and the Hard ``office`` trajectories (Hard P007
  is exported but belongs to no split). ``trajectories=`` overrides them.
* **Depth supervision**: the left depth ``.npy`` is exact ground truth;
  ``LoadTartanAirDepth`` (``datasets/transforms``) serves it as
  ``gt_depth``.
"""
import json
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from projects.OccDepth.occdepth.datasets.tartanair import (
    TARTANAIR_DIFFICULTIES, TARTANAIR_GRID_SIZE, TARTANAIR_VOXEL_ORIGIN,
    TARTANAIR_VOXEL_SIZE, check_grid, label_dir, raw_frame_paths,
    read_tartanair_depth, trajectory_dir)
from projects.OccDepth.occdepth.datasets.voxel_labels import downsample_labels
from tools.dataset_converters import tartanair_raw as raw
from tools.dataset_converters.tartanair_labels import (LABELLINGS, ClassMap,
                                                       grid_centers,
                                                       load_class_map,
                                                       seg_class_lut,
                                                       ssc_labels_from_depth)

TARTANAIR_FRAME_STEP = 5
# Downsampling factors of the written label files.
LABEL_SCALES = (1, 4, 8)
RIGHT_CAMERA_SOURCES = ('pose', 'baseline')


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
                      cam_k: np.ndarray = raw.TARTANAIR_CAM_K,
                      grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                      voxel_size: float = TARTANAIR_VOXEL_SIZE,
                      voxel_origin: Sequence[float] = TARTANAIR_VOXEL_ORIGIN,
                      max_depth: Optional[float] = None,
                      right_camera: str = 'pose',
                      baseline: float = raw.TARTANAIR_BASELINE,
                      labelling: str = 'observed') -> List[str]:
    """Export the labels of one trajectory folder into ``out_dir``.

    See :func:`export_ssc_labels` for the arguments.

    Returns:
        The exported frame names.
    """
    if right_camera not in RIGHT_CAMERA_SOURCES:
        raise ValueError(f'right_camera must be one of '
                         f'{RIGHT_CAMERA_SOURCES}, got {right_camera!r}')
    if labelling not in LABELLINGS:
        raise ValueError(f'labelling must be one of {LABELLINGS}, got '
                         f'{labelling!r}')
    grid = check_grid(grid_size, voxel_size, voxel_origin)
    for factor in LABEL_SCALES:
        if any(n % factor for n in grid):
            raise ValueError(f'grid_size {grid} must be divisible by '
                             f'{factor} (labels are written at 1:'
                             f'{", 1:".join(map(str, LABEL_SCALES))})')
    cam_k = np.asarray(cam_k, dtype=np.float64)
    if cam_k.shape != (3, 3):
        raise ValueError(f'cam_k must be 3x3, got shape {cam_k.shape}')
    frames = raw.list_frames(traj_dir, frame_step)
    left_path = os.path.join(traj_dir, 'pose_left.txt')
    right_path = os.path.join(traj_dir, 'pose_right.txt')
    poses_left = raw.read_pose_lines(left_path)
    poses_right = (
        raw.read_pose_lines(right_path) if right_camera == 'pose' else None)
    centers = grid_centers(grid, voxel_size, voxel_origin)
    os.makedirs(out_dir, exist_ok=True)
    for frame in frames:
        index = int(frame)
        for path, poses in ((left_path, poses_left), (right_path,
                                                      poses_right)):
            if poses is not None and index >= len(poses):
                raise ValueError(f'{path}: {len(poses)} poses, no pose for '
                                 f'frame {frame}')
        pose_left = raw.pose_to_matrix(poses_left[index])
        pose_right = (
            raw.pose_to_matrix(poses_right[index])
            if poses_right is not None else None)
        lidar2cam = raw.stereo_lidar2cam(pose_left, pose_right, baseline)
        paths = raw_frame_paths(traj_dir, frame)
        depth = read_tartanair_depth(paths['depth'])
        seg = raw.read_tartanair_seg(paths['seg'])
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
            centers=centers,
            labelling=labelling)
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
            labelling=labelling,
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
                      cam_k: np.ndarray = raw.TARTANAIR_CAM_K,
                      grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                      voxel_size: float = TARTANAIR_VOXEL_SIZE,
                      voxel_origin: Sequence[float] = TARTANAIR_VOXEL_ORIGIN,
                      max_depth: Optional[float] = None,
                      right_camera: str = 'pose',
                      baseline: float = raw.TARTANAIR_BASELINE,
                      labelling: str = 'observed') -> Dict[str, int]:
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
        labelling: ``'observed'`` (surfaces, observed free space 0, the
            rest 255) or ``'authors'`` (surfaces binned with ``np.rint``,
            the rest 0; module docstring).

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
                baseline=baseline,
                labelling=labelling)
            written[f'{difficulty}/{traj}'] = len(frames)
    if not written:
        raise ValueError(f'no trajectories found under '
                         f'{os.path.join(data_root, scene)}/'
                         f'{{{",".join(difficulties)}}}/P*')
    os.makedirs(os.path.join(out_dir, scene), exist_ok=True)
    with open(os.path.join(out_dir, scene, 'class_map.json'), 'w') as f:
        json.dump({k: list(v) for k, v in checked_map.items()}, f, indent=1)
    return written
