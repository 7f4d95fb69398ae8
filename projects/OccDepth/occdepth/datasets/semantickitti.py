"""SemanticKITTI semantic scene completion (stereo) on its on-disk layout."""
import logging
import os
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

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


def split_sequences(splits: Dict[str, Tuple[str, ...]], split: Optional[str],
                    sequences: Optional[Sequence[Union[str, int]]],
                    num_views: int) -> Sequence[Union[str, int]]:
    """Check the view count and pick the sequences of a dataset.

    The constructor checks that SemanticKITTI, SSCBench-KITTI-360 and
    SemanticTartanAir share (TartanAir calls its sequences trajectories).

    Args:
        splits: Split name -> its sequences.
        split: Name of the split, used when ``sequences`` is None.
        sequences: Explicit sequences, or None.
        num_views: 1 (left image) or 2 (stereo).

    Returns:
        ``sequences`` when given, else ``splits[split]``.

    Raises:
        ValueError: if ``num_views`` is not 1 or 2, or ``split`` is not in
            ``splits`` while ``sequences`` is None.
    """
    if num_views not in (1, 2):
        raise ValueError(f'num_views must be 1 (left image) or 2 '
                         f'(stereo), got {num_views}')
    if sequences is not None:
        return sequences
    if split not in splits:
        raise ValueError(f'split must be one of {sorted(splits)}, got '
                         f'{split!r}')
    return splits[split]


def grid_geometry(
    grid_size: Sequence[int], voxel_size: float, voxel_origin: Sequence[float]
) -> Tuple[Tuple[int, ...], float, Tuple[float, ...]]:
    """``grid_size`` as 3 ints, ``voxel_size`` and ``voxel_origin`` as
    floats.

    Raises:
        ValueError: if ``grid_size`` does not have 3 values.
    """
    size = tuple(int(n) for n in grid_size)
    if len(size) != 3:
        raise ValueError(f'grid_size must have 3 values, got {grid_size}')
    return size, float(voxel_size), tuple(float(o) for o in voxel_origin)


def listdirs(dirs: Sequence[str]) -> List[Set[str]]:
    """The file names in each folder (none for a missing folder)."""
    return [set(os.listdir(d)) if os.path.isdir(d) else set() for d in dirs]


def frame_files(
        frame: str, image_dirs: Sequence[str], image_files: Sequence[Set[str]],
        voxel_dir: str, voxel_files: Set[str],
        test_mode: bool) -> Tuple[List[str], Optional[str], Optional[str]]:
    """The image, ``.label`` and ``.invalid`` files of one frame.

    The file checks that SemanticKITTI and SSCBench-KITTI-360 share: every
    view needs ``{frame}.png``, a frame without ``.label`` is served only in
    test mode, and every ``.label`` needs its ``.invalid`` (the benchmarks
    ignore the invalid voxels).

    Args:
        frame: Frame name (``voxels/{frame}.bin``).
        image_dirs: Image folder of each view.
        image_files: :func:`listdirs` of ``image_dirs``.
        voxel_dir: The ``voxels/`` folder.
        voxel_files: The file names in ``voxel_dir``.
        test_mode: Whether frames without labels are served.

    Returns:
        tuple: The image path of each view, the ``.label`` and the
        ``.invalid`` path (both None for a frame without labels).

    Raises:
        FileNotFoundError: naming the missing file.
    """
    img_paths = []
    for img_dir, present in zip(image_dirs, image_files):
        if f'{frame}.png' not in present:
            raise FileNotFoundError(f'image file not found: '
                                    f'{os.path.join(img_dir, frame)}.png')
        img_paths.append(os.path.join(img_dir, f'{frame}.png'))
    stem = os.path.join(voxel_dir, frame)
    if f'{frame}.label' not in voxel_files:
        if not test_mode:
            raise FileNotFoundError(
                f'label file not found: {stem}.label (frames without labels '
                f'are only served with test_mode=True)')
        return img_paths, None, None
    if f'{frame}.invalid' not in voxel_files:
        raise FileNotFoundError(f'{stem}.invalid not found: the benchmark '
                                'ignores invalid voxels, so every .label '
                                'needs its .invalid')
    return img_paths, f'{stem}.label', f'{stem}.invalid'


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
        sequences = split_sequences(KITTI_SPLITS, split, sequences, num_views)
        self.num_views = num_views
        self.sequences = tuple(f'{s:02d}' if isinstance(s, int) else str(s)
                               for s in sequences)
        self.split = split
        self.depth_root = depth_root
        self.label_cache_root = label_cache_root
        self.grid_size, self.voxel_size, self.voxel_origin = grid_geometry(
            grid_size, voxel_size, voxel_origin)
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
        image_dirs = [
            os.path.join(seq_dir, d) for d in IMAGE_DIRS[:self.num_views]
        ]
        image_files = listdirs(image_dirs)

        infos = []
        for frame in frames:
            img_paths, label_path, invalid_path = frame_files(
                frame, image_dirs, image_files, voxel_dir, voxel_files,
                self.test_mode)
            info = dict(
                img_paths=img_paths,
                cam2img=cam2img,
                lidar2cam=lidar2cam,
                label_path=label_path,
                invalid_path=invalid_path,
                label_cache_prefix=None,
                depth_path=None,
                sequence=seq,
                frame_id=frame,
                grid_size=self.grid_size,
                voxel_size=self.voxel_size,
                voxel_origin=self.voxel_origin)
            if label_path is not None and self.label_cache_root is not None:
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
