"""SemanticKITTI semantic scene completion (stereo) on its on-disk layout."""
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet3d.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.io import read_calib
from projects.OccDepth.occdepth.datasets.label_maps import (
    IGNORE_INDEX, SEMANTICKITTI_CLASSES, SEMANTICKITTI_PALETTE)
from projects.OccDepth.occdepth.datasets.seeding import SeededDatasetMixin

KITTI_SPLITS: Dict[str, Tuple[str, ...]] = {
    'train': ('00', '01', '02', '03', '04', '05', '06', '07', '09', '10'),
    'val': ('08', ),
    'test': tuple(f'{i:02d}' for i in range(11, 22)),
}
IMAGE_DIRS = ('image_2', 'image_3')
# Depth maps of each view under depth_root/sequences/XX/ (view 0: the folder
# of the stereo maps; tools/create_data.py kitti-lidar-depth writes both).
DEPTH_DIRS = ('depth', 'depth_3')
CALIB_KEYS = ('P2', 'P3')


def stereo_calibration(
        calib: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Intrinsics and voxel-frame -> camera transforms of both views.

    For view ``v`` with projection ``P_v`` (``P2`` left, ``P3`` right):
    ``K_v = P_v[:, :3]`` and ``T_v = [inv(K_v) P_v Tr; 0 0 0 1]``, so that
    ``K_v T_v = P_v Tr`` exactly.

    Args:
        calib: Parsed ``calib.txt`` holding ``P2``, ``P3`` and ``Tr``
            (``(3, 4)`` float64 each).

    Returns:
        tuple: ``cam2img`` ``(2, 3, 3)`` and ``lidar2cam`` ``(2, 4, 4)``,
        float64.
    """
    velo2cam0 = np.eye(4)
    velo2cam0[:3] = calib['Tr']
    cam2img, lidar2cam = [], []
    for key in CALIB_KEYS:
        proj = calib[key]
        intrinsics = proj[:, :3]
        extrinsics = np.eye(4)
        extrinsics[:3] = np.linalg.inv(intrinsics) @ proj @ velo2cam0
        cam2img.append(intrinsics)
        lidar2cam.append(extrinsics)
    return np.stack(cam2img), np.stack(lidar2cam)


@DATASETS.register_module()
class SemanticKittiSSCDataset(SeededDatasetMixin, BaseDataset):
    """SemanticKITTI SSC with the left/right colour images.

    ``data_root`` is the folder holding ``sequences/`` (``.../dataset`` in
    the official download). Frames are the ``sequences/XX/voxels/*.bin``
    files; each frame needs ``image_2``/``image_3`` PNGs and the sequence
    its ``calib.txt``. Frames without ``.label`` (the hidden test split) are
    served without ground truth.

    Each data info holds paths and a few small arrays: ``img_paths``,
    ``label_path`` / ``invalid_path`` (None when absent), ``depth_path``
    (view 0) and ``depth_paths`` (one per view, :data:`DEPTH_DIRS`),
    ``label_cache_prefix``, ``cam2img`` ``(2, 3, 3)``, ``lidar2cam``
    ``(2, 4, 4)``, ``sequence``, ``frame_id``, ``grid_size``,
    ``voxel_size`` and ``voxel_origin``.

    Args:
        data_root: Folder that holds ``sequences/``.
        split: ``'train'`` (00-07, 09, 10), ``'val'`` (08) or ``'test'``
            (11-21); ignored when ``sequences`` is given.
        sequences: Explicit sequence names (``'08'`` or ``8``).
        pipeline: Transforms applied to every sample.
        test_mode: Whether the dataset is used for val/test. Outside test
            mode every frame must have a ``.label``.
        depth_root: Folder with the same ``sequences/XX/`` layout holding
            ``depth/{frame}.png`` stereo depth maps, or None.
        label_cache_root: Output folder of ``tools/create_data.py kitti``,
            or None to read the raw ``.label`` files.
        grid_size: Voxel grid ``(X, Y, Z)`` of the label files.
        voxel_size: Voxel edge in metres.
        voxel_origin: Voxel-frame coordinates of the grid's minimum corner.
        num_views: 2 for the stereo pair, 1 for the left image only
            (MonoScene).
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(
        classes=SEMANTICKITTI_CLASSES,
        palette=SEMANTICKITTI_PALETTE,
        ignore_index=IGNORE_INDEX)

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 sequences: Optional[Sequence[Union[str, int]]] = None,
                 pipeline: Sequence[dict] = (),
                 test_mode: bool = False,
                 depth_root: Optional[str] = None,
                 label_cache_root: Optional[str] = None,
                 grid_size: Sequence[int] = (256, 256, 32),
                 voxel_size: float = 0.2,
                 voxel_origin: Sequence[float] = (0.0, -25.6, -2.0),
                 num_views: int = 2,
                 **kwargs) -> None:
        if num_views not in (1, 2):
            raise ValueError(f'num_views must be 1 (left image) or 2 '
                             f'(stereo), got {num_views}')
        self.num_views = num_views
        if sequences is None:
            if split not in KITTI_SPLITS:
                raise ValueError(f'split must be one of '
                                 f'{sorted(KITTI_SPLITS)}, got {split!r}')
            sequences = KITTI_SPLITS[split]
        self.sequences = tuple(f'{s:02d}' if isinstance(s, int) else str(s)
                               for s in sequences)
        self.split = split
        self.depth_root = depth_root
        self.label_cache_root = label_cache_root
        self.grid_size = tuple(int(n) for n in grid_size)
        if len(self.grid_size) != 3:
            raise ValueError(f'grid_size must have 3 values, got '
                             f'{grid_size}')
        self.voxel_size = float(voxel_size)
        self.voxel_origin = tuple(float(o) for o in voxel_origin)
        super().__init__(
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def _sequence_infos(self, seq: str) -> List[dict]:
        """Data infos of the frames of one sequence (empty if absent)."""
        seq_dir = os.path.join(self.data_root, 'sequences', seq)
        voxel_dir = os.path.join(seq_dir, 'voxels')
        if not os.path.isdir(voxel_dir):
            return []
        voxel_files = set(os.listdir(voxel_dir))
        frames = sorted(name[:-4] for name in voxel_files
                        if name.endswith('.bin'))
        if not frames:
            return []
        calib_path = os.path.join(seq_dir, 'calib.txt')
        if not os.path.isfile(calib_path):
            raise FileNotFoundError(
                f'calibration file not found: {calib_path}')
        cam2img, lidar2cam = stereo_calibration(
            read_calib(calib_path, required=CALIB_KEYS + ('Tr', )))
        cam2img = cam2img[:self.num_views]
        lidar2cam = lidar2cam[:self.num_views]
        image_dirs = IMAGE_DIRS[:self.num_views]

        image_files = []
        for img_dir in image_dirs:
            path = os.path.join(seq_dir, img_dir)
            image_files.append(
                set(os.listdir(path)) if os.path.isdir(path) else set())

        infos = []
        for frame in frames:
            img_paths = []
            for img_dir, present in zip(image_dirs, image_files):
                if f'{frame}.png' not in present:
                    raise FileNotFoundError(
                        f'image file not found: '
                        f'{os.path.join(seq_dir, img_dir, frame)}.png')
                img_paths.append(
                    os.path.join(seq_dir, img_dir, f'{frame}.png'))
            has_label = f'{frame}.label' in voxel_files
            if not has_label and not self.test_mode:
                raise FileNotFoundError(
                    f'label file not found: '
                    f'{os.path.join(voxel_dir, frame)}.label (frames '
                    f'without labels are only served with test_mode=True)')
            info = dict(
                img_paths=img_paths,
                cam2img=cam2img,
                lidar2cam=lidar2cam,
                label_path=None,
                invalid_path=None,
                label_cache_prefix=None,
                depth_path=None,
                sequence=seq,
                frame_id=frame,
                grid_size=self.grid_size,
                voxel_size=self.voxel_size,
                voxel_origin=self.voxel_origin)
            if has_label:
                info['label_path'] = os.path.join(voxel_dir, f'{frame}.label')
                if f'{frame}.invalid' not in voxel_files:
                    raise FileNotFoundError(
                        f'{os.path.join(voxel_dir, frame)}.invalid not '
                        'found: the benchmark ignores invalid voxels, so '
                        'every .label needs its .invalid')
                info['invalid_path'] = os.path.join(voxel_dir,
                                                    f'{frame}.invalid')
                if self.label_cache_root is not None:
                    info['label_cache_prefix'] = os.path.join(
                        self.label_cache_root, 'labels', seq, frame)
            if self.depth_root is not None:
                info['depth_path'] = os.path.join(self.depth_root, 'sequences',
                                                  seq, 'depth', f'{frame}.png')
                info['depth_paths'] = [
                    os.path.join(self.depth_root, 'sequences', seq, d,
                                 f'{frame}.png')
                    for d in DEPTH_DIRS[:self.num_views]
                ]
            infos.append(info)
        return infos

    def load_data_list(self) -> List[dict]:
        """Scan ``sequences/XX/voxels/*.bin`` of every requested sequence."""
        data_list, missing = [], []
        for seq in self.sequences:
            infos = self._sequence_infos(seq)
            if not infos:
                missing.append(seq)
            data_list.extend(infos)
        if not data_list:
            raise ValueError(
                f'no frames found under {self.data_root}: looked for '
                f'sequences/{{{",".join(self.sequences)}}}/voxels/*.bin')
        if missing:
            print_log(
                f'{self.data_root}: no frames for sequence(s) '
                f'{", ".join(missing)}',
                logger='current',
                level=logging.WARNING)
        return data_list
