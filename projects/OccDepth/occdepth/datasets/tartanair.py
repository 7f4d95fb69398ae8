"""SemanticTartanAir SSC dataset on the exported labels.

The paper (Sec. 4.1) builds "SemanticTartanAir" from TartanAir's ``office``
scene. ``tools/create_tartanair_ssc.py`` exports its voxel labels and the
per-frame calibration (layout, grid, classes and rules:
``tools/dataset_converters/tartanair_ssc.py``); :class:`TartanAirSSCDataset`
reads them with the images and depth maps of the raw TartanAir tree::

    {data_root}/{scene}/{Easy|Hard}/{Pxxx}/
        image_left/{frame}_left.png      image_right/{frame}_right.png
        depth_left/{frame}_left_depth.npy   float32 metres, z (planar) depth
    {label_root}/{scene}/{Easy|Hard}/{Pxxx}/voxels/
        {frame}_1_{1,4,8}.npy   uint8 labels (0 empty, 255 unobserved)
        {frame}.json            cam2img, lidar2cam, grid of the labels

Grid: 120 x 48 x 120 voxels of 0.1 m from ``(-6, -3, 0)``, axes x right, y
down, z forward of the levelled left camera. Splits (reference dataset):
train ``P000-P004, P006``, val/test ``P005``, of the Easy and the Hard
trajectories.
"""
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet3d.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.label_maps import (IGNORE_INDEX,
                                                            TARTANAIR_CLASSES,
                                                            TARTANAIR_PALETTE)
from projects.OccDepth.occdepth.datasets.seeding import SeededDatasetMixin
from projects.OccDepth.occdepth.datasets.semantickitti import split_sequences

TARTANAIR_GRID_SIZE = (120, 48, 120)
TARTANAIR_VOXEL_SIZE = 0.1
TARTANAIR_VOXEL_ORIGIN = (-6.0, -3.0, 0.0)
TARTANAIR_DIFFICULTIES = ('Easy', 'Hard')
TARTANAIR_SPLITS: Dict[str, Tuple[str, ...]] = {
    'train': ('P000', 'P001', 'P002', 'P003', 'P004', 'P006'),
    'val': ('P005', ),
    'test': ('P005', ),
}


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


def label_dir(out_dir: str, scene: str, difficulty: str,
              trajectory: str) -> str:
    """``{out_dir}/{scene}/{difficulty}/{trajectory}/voxels``."""
    return os.path.join(out_dir, scene, difficulty, trajectory, 'voxels')


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


def valid_depth_mask(depth: np.ndarray,
                     max_depth: Optional[float] = None) -> np.ndarray:
    """Finite, positive depths (and ``<= max_depth`` when given)."""
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        valid &= depth <= max_depth
    return valid


def check_grid(grid_size: Sequence[int], voxel_size: float,
               voxel_origin: Sequence[float]) -> Tuple[int, int, int]:
    """Check a grid description; return the grid size as int triple."""
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
    for key, value in (('cam2img', cam2img), ('lidar2cam', lidar2cam)):
        if not np.isfinite(value).all():
            raise ValueError(f'{path}: {key} holds non-finite values '
                             f'(nan/inf)')
    meta['cam2img'] = cam2img
    meta['lidar2cam'] = lidar2cam
    return meta


@DATASETS.register_module()
class TartanAirSSCDataset(SeededDatasetMixin, BaseDataset):
    """SemanticTartanAir SSC with the left/right colour images.

    Frames are the ``{frame}.json`` files written by
    ``tools/create_tartanair_ssc.py`` under ``label_root``; images (and the
    depth map for distillation) come from the raw TartanAir tree under
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
        label_root: Output root of ``tools/create_tartanair_ssc.py``.
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
        trajectories = split_sequences(TARTANAIR_SPLITS, split, trajectories,
                                       num_views)
        self.trajectories = tuple(str(t) for t in trajectories)
        self.difficulties = tuple(difficulties)
        self.scene = scene
        self.split = split
        self.label_root = label_root
        self.num_views = num_views
        self.grid_size = check_grid(grid_size, voxel_size, voxel_origin)
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
