"""SSCBench-KITTI-360 semantic scene completion (stereo) on its raw layout.

The benchmark (ai4ce/SSCBench, ``dataset/KITTI-360/README.md``) keeps
KITTI-360's folders; ``data_root`` is the ``KITTI-360`` folder::

    calibration/perspective.txt           P_rect_00, P_rect_01, R_rect_00
    calibration/calib_cam_to_velo.txt     camera 00 -> velodyne, 12 numbers
    data_2d_raw/2013_05_28_drive_00XX_sync/
        image_00/data_rect/{frame}.png    left, rectified, 376 x 1408
        image_01/data_rect/{frame}.png    right, rectified
        voxels/{frame}.bin|.label|.invalid  every 5th frame
    data_3d_raw/2013_05_28_drive_00XX_sync/velodyne_points/data/
        {frame:010d}.bin                  scans (LiDAR depth only)

The calibration files are read by ``kitti360_calibration.py``, the scans by
``tools/dataset_converters/kitti360_lidar_depth.py`` (offline).

Label files, as the benchmark reads them (``_read_label_KITTI360`` and
``_read_invalid_KITTI360`` of ``method/MonoScene/monoscene/data/kitti_360/
io_data.py``, applied in ``preprocess.py`` of the same folder):

* ``.label``: uint16 raw ids (``labels`` of ``dataset/configs/kitti360.yaml``)
  per voxel of the 256 x 256 x 32 grid, C order, remapped with
  ``learning_map`` (:func:`kitti360_remap_lut`);
* ``.invalid``: **one uint8 per voxel** (not bit-packed like SemanticKITTI's),
  1 = invalid; a voxel with a non-zero raw label is never invalid.

The grid is SemanticKITTI's: 256 x 256 x 32 voxels of 0.2 m from
``(0, -25.6, -2)`` in the velodyne frame (``vox_origin`` and
``T_velo_2_cam`` of ``kitti_360_dataset.py`` there).
"""
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet3d.registry import DATASETS, TRANSFORMS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.io import KITTI_GRID_SIZE, read_label
from projects.OccDepth.occdepth.datasets.kitti360_calibration import \
    read_calibration
from projects.OccDepth.occdepth.datasets.label_maps import (
    IGNORE_INDEX, KITTI360_CLASSES, KITTI360_LEARNING_MAP, KITTI360_PALETTE,
    kitti360_remap_lut)
from projects.OccDepth.occdepth.datasets.seeding import SeededDatasetMixin
from projects.OccDepth.occdepth.datasets.semantickitti import (frame_files,
                                                               grid_geometry,
                                                               listdirs,
                                                               split_sequences)
from projects.OccDepth.occdepth.datasets.transforms.loading import \
    LoadSSCLabels
from projects.OccDepth.occdepth.datasets.voxel_labels import downsample_labels

# dataset/configs/kitti360.yaml (split) and the README of the benchmark.
KITTI360_SPLITS: Dict[str, Tuple[str, ...]] = {
    'train': ('00', '02', '03', '04', '05', '07', '10'),
    'val': ('06', ),
    'test': ('09', ),
}
IMAGE_DIRS = tuple(
    os.path.join(camera, 'data_rect') for camera in ('image_00', 'image_01'))
# LiDAR depth maps of each view under depth_root/{drive}/
# (tools/create_data.py kitti360-lidar-depth writes them).
DEPTH_DIRS = ('depth_00', 'depth_01')

_REMAP_LUT = kitti360_remap_lut()
_KNOWN_RAW_IDS = np.zeros(65536, dtype=bool)
_KNOWN_RAW_IDS[list(KITTI360_LEARNING_MAP)] = True


def drive_name(sequence: Union[str, int]) -> str:
    """``'06'`` or ``6`` -> ``'2013_05_28_drive_0006_sync'``."""
    return f'2013_05_28_drive_{int(sequence):04d}_sync'


def read_kitti360_invalid(path: str,
                          grid_size: Sequence[int] = KITTI_GRID_SIZE
                          ) -> np.ndarray:
    """Read an SSCBench-KITTI-360 ``.invalid`` file: one uint8 per voxel.

    Returns:
        uint8 ``grid_size`` array of 0 / 1.

    Raises:
        ValueError: naming the file, when its size or values do not fit.
    """
    n = int(np.prod(grid_size))
    data = np.fromfile(path, dtype=np.uint8)
    if data.size != n:
        packed = (' (the size of a bit-packed SemanticKITTI mask; '
                  'SSCBench-KITTI-360 stores one byte per voxel)'
                  if data.size * 8 == n else '')
        raise ValueError(f'{path}: invalid-mask file has {data.size} bytes, '
                         f'expected {n} (uint8 x {tuple(grid_size)}){packed}')
    if data.max(initial=0) > 1:
        raise ValueError(f'{path}: invalid-mask file holds the value '
                         f'{int(data.max())}, expected only 0 and 1')
    return data.reshape(grid_size)


def read_kitti360_labels(
        label_path: str,
        invalid_path: Optional[str] = None,
        grid_size: Sequence[int] = KITTI_GRID_SIZE
) -> Tuple[np.ndarray, int, int]:
    """Read a ``.label`` (and its ``.invalid``) as the benchmark remaps it.

    ``preprocess.py`` of the benchmark: voxels with a non-zero raw id are
    cleared in the invalid mask, raw ids go through ``learning_map``
    (mapped-to-0 and unknown ids -> 255), then invalid voxels -> 255.

    Returns:
        tuple: uint8 training ids of shape ``grid_size``, the number of
        voxels with raw ids absent from the learning map and the number of
        voxels set to 255 by the invalid mask.
    """
    raw = read_label(label_path, grid_size)
    labels = _REMAP_LUT[raw]
    num_unknown = int(raw.size - np.count_nonzero(_KNOWN_RAW_IDS[raw]))
    num_invalid = 0
    if invalid_path is not None:
        invalid = (read_kitti360_invalid(invalid_path, grid_size) == 1) & (
            raw == 0)
        labels[invalid] = IGNORE_INDEX
        num_invalid = int(invalid.sum())
    return labels, num_unknown, num_invalid


@TRANSFORMS.register_module()
class LoadKitti360Labels(LoadSSCLabels):
    """Load the SSCBench-KITTI-360 voxel target and its context-prior copy.

    :class:`LoadSSCLabels` for the benchmark's files: reads ``.label`` /
    ``.invalid`` with :func:`read_kitti360_labels` (no label cache).
    Samples without a label pass through unchanged; a frame whose voxels are
    all ignored is reported (see :class:`EmptyLabelReporter`).

    Required Keys:

    - label_path (str | None)
    - invalid_path (str | None)
    - grid_size (tuple[int, int, int])

    Added Keys:

    - gt_occ (np.ndarray): uint8 ``grid_size`` labels.
    - gt_occ_crp (np.ndarray): uint8 labels pooled by ``crp_factor``, when
      it is set.

    Args:
        crp_factor: Downsampling factor of the CRP target (8 for the KITTI
            network), or None.
    """

    def transform(self, results: dict) -> dict:
        """Attach ``gt_occ`` (and ``gt_occ_crp``) to ``results``."""
        label_path = results.get('label_path')
        if label_path is None:
            return results
        labels, num_unknown, num_invalid = read_kitti360_labels(
            label_path, results.get('invalid_path'), results['grid_size'])
        if num_unknown:
            print_log(
                f'{label_path}: {num_unknown} voxels hold raw ids absent '
                f'from the SSCBench-KITTI-360 learning map; they are '
                f'ignored ({IGNORE_INDEX})',
                logger='current',
                level=logging.WARNING)

        def reason() -> str:
            return (f'{num_invalid} voxels are flagged in the .invalid file, '
                    f'{num_unknown} hold unknown raw ids, the others raw ids '
                    f'the benchmark ignores')

        self.empty_reporter.check(labels, label_path, reason)
        results['gt_occ'] = labels
        if self.crp_factor is not None:
            results['gt_occ_crp'] = downsample_labels(labels, self.crp_factor)
        return results


@DATASETS.register_module()
class Kitti360SSCDataset(SeededDatasetMixin, BaseDataset):
    """SSCBench-KITTI-360 SSC with the rectified left/right images.

    Frames are the ``data_2d_raw/{drive}/voxels/*.bin`` files (as the
    benchmark's loader lists them); each needs ``image_00/data_rect`` and
    ``image_01/data_rect`` PNGs of the same name, and outside test mode its
    ``.label`` and ``.invalid``. The calibration is read once from
    ``calibration/`` (:mod:`.kitti360_calibration`).

    Each data info holds ``img_paths``, ``label_path`` / ``invalid_path``,
    ``depth_path`` (view 0) and ``depth_paths`` (:data:`DEPTH_DIRS`, when
    ``depth_root`` is set), ``cam2img`` ``(V, 3, 3)``, ``lidar2cam``
    ``(V, 4, 4)``, ``sequence`` (``'06'``), ``drive``, ``frame_id``,
    ``grid_size``, ``voxel_size`` and ``voxel_origin``.

    Args:
        data_root: The ``KITTI-360`` folder (``calibration/``,
            ``data_2d_raw/``).
        split: ``'train'`` (00, 02-05, 07, 10), ``'val'`` (06) or
            ``'test'`` (09); ignored when ``sequences`` is given.
        sequences: Explicit drives (``'06'`` or ``6``).
        pipeline: Transforms applied to every sample.
        test_mode: Whether the dataset is used for val/test.
        depth_root: Folder holding ``{drive}/depth_00|depth_01/{frame}.png``
            (``tools/create_data.py kitti360-lidar-depth``), or None.
        grid_size: Voxel grid ``(X, Y, Z)`` of the label files.
        voxel_size: Voxel edge in metres.
        voxel_origin: Velodyne-frame coordinates of the grid's minimum
            corner.
        num_views: 2 for the stereo pair, 1 for the left image only.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(
        classes=KITTI360_CLASSES,
        palette=KITTI360_PALETTE,
        ignore_index=IGNORE_INDEX)

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 sequences: Optional[Sequence[Union[str, int]]] = None,
                 pipeline: Sequence[dict] = (),
                 test_mode: bool = False,
                 depth_root: Optional[str] = None,
                 grid_size: Sequence[int] = KITTI_GRID_SIZE,
                 voxel_size: float = 0.2,
                 voxel_origin: Sequence[float] = (0.0, -25.6, -2.0),
                 num_views: int = 2,
                 **kwargs) -> None:
        sequences = split_sequences(KITTI360_SPLITS, split, sequences,
                                    num_views)
        self.num_views = num_views
        self.sequences = tuple(f'{int(s):02d}' for s in sequences)
        self.split = split
        self.depth_root = depth_root
        self.grid_size, self.voxel_size, self.voxel_origin = grid_geometry(
            grid_size, voxel_size, voxel_origin)
        super().__init__(
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def _drive_infos(self, seq: str, calib: Tuple[np.ndarray,
                                                  np.ndarray]) -> List[dict]:
        """Data infos of the frames of one drive."""
        drive = drive_name(seq)
        drive_dir = os.path.join(self.data_root, 'data_2d_raw', drive)
        voxel_dir = os.path.join(drive_dir, 'voxels')
        voxel_files = set(os.listdir(voxel_dir))
        frames = sorted(n[:-4] for n in voxel_files if n.endswith('.bin'))
        image_dirs = [
            os.path.join(drive_dir, d) for d in IMAGE_DIRS[:self.num_views]
        ]
        image_files = listdirs(image_dirs)
        infos = []
        for frame in frames:
            img_paths, label_path, invalid_path = frame_files(
                frame, image_dirs, image_files, voxel_dir, voxel_files,
                self.test_mode)
            info = dict(
                img_paths=img_paths,
                cam2img=calib[0][:self.num_views],
                lidar2cam=calib[1][:self.num_views],
                label_path=label_path,
                invalid_path=invalid_path,
                depth_path=None,
                sequence=seq,
                drive=drive,
                frame_id=frame,
                grid_size=self.grid_size,
                voxel_size=self.voxel_size,
                voxel_origin=self.voxel_origin)
            if self.depth_root is not None:
                info['depth_paths'] = [
                    os.path.join(self.depth_root, drive, d, f'{frame}.png')
                    for d in DEPTH_DIRS[:self.num_views]
                ]
                info['depth_path'] = info['depth_paths'][0]
            infos.append(info)
        return infos

    def load_data_list(self) -> List[dict]:
        """Scan ``data_2d_raw/{drive}/voxels/*.bin`` of every drive."""
        present = [
            seq for seq in self.sequences if os.path.isdir(
                os.path.join(self.data_root, 'data_2d_raw', drive_name(seq),
                             'voxels'))
        ]
        if not present:
            raise ValueError(
                f'no frames found under {self.data_root}: looked for '
                f'data_2d_raw/{drive_name(self.sequences[0])}/voxels/*.bin'
                f' (drives {", ".join(self.sequences)})')
        calib = read_calibration(self.data_root)
        data_list, missing = [], []
        for seq in self.sequences:
            infos = self._drive_infos(seq, calib) if seq in present else []
            if not infos:
                missing.append(seq)
            data_list.extend(infos)
        if not data_list:
            raise ValueError(f'no frames found under {self.data_root}: the '
                             f'voxels/ folders of drives '
                             f'{", ".join(self.sequences)} hold no .bin file')
        if missing:
            print_log(
                f'{self.data_root}: no frames for drive(s) '
                f'{", ".join(drive_name(s) for s in missing)}',
                logger='current',
                level=logging.WARNING)
        return data_list
