"""NYUv2 semantic scene completion (RGB-D) on MonoScene's depthbin layout."""
import os
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmdet3d.registry import DATASETS
from mmengine.dataset import BaseDataset

from projects.OccDepth.occdepth.datasets.label_maps import (IGNORE_INDEX,
                                                            NYU_CLASSES,
                                                            NYU_PALETTE)
# yapf: disable
from projects.OccDepth.occdepth.datasets.nyu_io import (NYU_FULL_GRID,
                                                        NYU_FULL_VOXEL_SIZE,
                                                        NYU_GRID_AXES,
                                                        NYU_INTRINSICS,
                                                        read_nyu_bin_header,
                                                        read_nyu_labels)
# yapf: enable
from projects.OccDepth.occdepth.datasets.seeding import SeededDatasetMixin
from projects.OccDepth.occdepth.datasets.voxel_labels import downsample_labels
from projects.OccDepth.occdepth.models.utils.geometry import (
    grid_to_frame_matrix, shift_camera)

# The official split: 795 training and 654 test frames.
NYU_SPLITS = ('train', 'test')
# Output grid (1:4 of the 240 x 144 x 240 files) and the CRP grid (1:16).
NYU_OUTPUT_FACTOR = 4
NYU_CRP_FACTOR = 16
VIRTUAL_BASELINE = 0.1


def split_folder(split: str) -> str:
    """Folder of a split under the data root, ``NYU{split}``."""
    if split not in NYU_SPLITS:
        raise ValueError(f'split must be one of {NYU_SPLITS}, got {split!r}')
    return f'NYU{split}'


def nyu_calibration(
    cam_pose: np.ndarray,
    vox_origin: Sequence[float],
    intrinsics: Sequence[Sequence[float]] = NYU_INTRINSICS,
    virtual_baseline: Optional[float] = VIRTUAL_BASELINE
) -> Tuple[np.ndarray, np.ndarray]:
    """Intrinsics and grid frame -> camera transforms of a NYU frame.

    The voxel frame is the label grid's own frame: axis ``i`` along array
    axis ``i`` of the ``(x, z, y)``-ordered labels, origin at the grid's
    minimum corner, so the model projects ``voxel_centers(grid, size,
    (0, 0, 0))``. ``lidar2cam = inv(cam_pose) @ G`` with ``G`` mapping the
    grid frame to world (axis permutation + ``vox_origin``): voxel ``(i, j,
    k)`` of a 0.08 m grid lands on the pixel of the world point
    ``vox_origin + 0.08 * (i + 0.5, k + 0.5, j + 0.5)``, as the reference's
    ``vox2pix`` followed by its ``(x, y, z) -> (x, z, y)`` permute.

    Args:
        cam_pose: ``(4, 4)`` camera -> world of the ``.bin`` header.
        vox_origin: World coordinates of the grid's minimum corner.
        intrinsics: ``(3, 3)`` camera matrix.
        virtual_baseline: Baseline of the virtual right camera (shifted
            along the camera's +x axis; docs/reference-notes.md, NYUv2 data)
            appended as view 1, or None for the real camera only.

    Returns:
        tuple: ``cam2img`` ``(V, 3, 3)`` and ``lidar2cam`` ``(V, 4, 4)``,
        float64, ``V = 2`` with the virtual view, else 1.
    """
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3):
        raise ValueError(f'intrinsics must be 3x3, got shape {k.shape}')
    pose = np.asarray(cam_pose, dtype=np.float64)
    world2cam = np.linalg.inv(pose)
    lidar2cam = [world2cam @ grid_to_frame_matrix(NYU_GRID_AXES, vox_origin)]
    if virtual_baseline is not None:
        lidar2cam.append(shift_camera(lidar2cam[0], virtual_baseline))
    return np.stack([k] * len(lidar2cam)), np.stack(lidar2cam)


def _frame_names(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(n[:-4] for n in os.listdir(folder) if n.endswith('.bin'))


@DATASETS.register_module()
class NYUv2SSCDataset(SeededDatasetMixin, BaseDataset):
    """NYUv2 SSC from MonoScene's "depthbin" folders.

    ``data_root`` holds ``NYUtrain/`` (795 frames) and ``NYUtest/`` (654);
    each frame ``{name}`` is ``{name}.bin`` (labels, ``vox_origin``,
    ``cam_pose``), ``{name}_color.jpg`` and ``{name}.png`` (depth), see
    :mod:`.nyu_io`. Only the 76-byte ``.bin`` headers are read here; the
    labels are loaded by :class:`LoadNYULabels`.

    Each data info holds ``img_paths`` (the colour image, 1 view),
    ``depth_path``, ``bin_path``, ``label_cache_prefix``, ``cam2img``
    ``(V, 3, 3)`` and ``lidar2cam`` ``(V, 4, 4)`` (see
    :func:`nyu_calibration`: the real camera, then the virtual right camera
    when ``virtual_baseline`` is set), ``vox_origin``, ``cam_pose``,
    ``sequence`` (the split folder), ``frame_id`` (the name), ``grid_size``,
    ``voxel_size`` and ``voxel_origin`` = (0, 0, 0).

    Args:
        data_root: Folder holding ``NYUtrain/`` and ``NYUtest/``.
        split: ``'train'`` or ``'test'``.
        pipeline: Transforms applied to every sample.
        test_mode: Whether the dataset is used for val/test.
        label_cache_root: Output folder of :func:`create_nyu_cache`
            (``tools/create_data.py nyu``), or None to decode the ``.bin``
            files on the fly (about 1 s per frame).
        intrinsics: Camera matrix of the images (the Kinect's for the real
            640 x 480 data).
        virtual_baseline: Baseline in metres of the virtual right camera
            (view 1) used by virtual stereo, or None for the real camera
            only (MonoScene-style single view).
        grid_size: Label grid ``(X, Y, Z)``: 240 x 144 x 240 pooled by an
            integer factor (the benchmark's 60 x 36 x 60).
        voxel_size: Voxel edge of that grid, 0.02 m times the factor.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(
        classes=NYU_CLASSES, palette=NYU_PALETTE, ignore_index=IGNORE_INDEX)

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 pipeline: Sequence[dict] = (),
                 test_mode: bool = False,
                 label_cache_root: Optional[str] = None,
                 intrinsics: Sequence[Sequence[float]] = NYU_INTRINSICS,
                 virtual_baseline: Optional[float] = VIRTUAL_BASELINE,
                 grid_size: Sequence[int] = (60, 36, 60),
                 voxel_size: float = 0.08,
                 **kwargs) -> None:
        self.split = split
        self.folder = split_folder(split)
        self.label_cache_root = label_cache_root
        self.intrinsics = np.asarray(intrinsics, dtype=np.float64)
        if self.intrinsics.shape != (3, 3):
            raise ValueError(f'intrinsics must be 3x3, got shape '
                             f'{self.intrinsics.shape}')
        if virtual_baseline is not None and virtual_baseline <= 0:
            raise ValueError(f'virtual_baseline must be positive (a right '
                             f'camera) or None, got {virtual_baseline}')
        self.virtual_baseline = virtual_baseline
        self.grid_size = tuple(int(n) for n in grid_size)
        self.factor = output_factor(self.grid_size)
        expected = NYU_FULL_VOXEL_SIZE * self.factor
        if not np.isclose(voxel_size, expected):
            raise ValueError(f'voxel_size {voxel_size} does not match the '
                             f'grid {self.grid_size}: 1:{self.factor} of the '
                             f'0.02 m NYU grid has {expected:g} m voxels')
        self.voxel_size = float(voxel_size)
        super().__init__(
            data_root=data_root,
            pipeline=list(pipeline),
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """One info per ``{name}.bin`` of the split folder."""
        folder = os.path.join(self.data_root, self.folder)
        names = _frame_names(folder)
        if not names:
            raise ValueError(f'no frames found: {folder} holds no .bin files '
                             f'(expected the depthbin layout NYUtrain/ and '
                             f'NYUtest/ with NYUxxxx_xxxx.bin files)')
        files = set(os.listdir(folder))
        data_list = []
        for name in names:
            if f'{name}_color.jpg' not in files:
                raise FileNotFoundError(
                    f'colour image not found: '
                    f'{os.path.join(folder, name)}_color.jpg')
            bin_path = os.path.join(folder, f'{name}.bin')
            vox_origin, cam_pose = read_nyu_bin_header(bin_path)
            cam2img, lidar2cam = nyu_calibration(cam_pose, vox_origin,
                                                 self.intrinsics,
                                                 self.virtual_baseline)
            prefix = None
            if self.label_cache_root is not None:
                prefix = os.path.join(self.label_cache_root, self.folder, name)
            data_list.append(
                dict(
                    img_paths=[os.path.join(folder, f'{name}_color.jpg')],
                    depth_path=os.path.join(folder, f'{name}.png'),
                    bin_path=bin_path,
                    label_cache_prefix=prefix,
                    cam2img=cam2img,
                    lidar2cam=lidar2cam,
                    vox_origin=vox_origin,
                    cam_pose=cam_pose,
                    sequence=self.folder,
                    frame_id=name,
                    grid_size=self.grid_size,
                    voxel_size=self.voxel_size,
                    voxel_origin=(0.0, 0.0, 0.0)))
        return data_list


def output_factor(grid_size: Sequence[int]) -> int:
    """Integer factor from the 240 x 144 x 240 NYU grid to ``grid_size``."""
    grid = tuple(int(n) for n in grid_size)
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f'grid_size must be 3 positive integers, got '
                         f'{tuple(grid_size)}')
    factor = NYU_FULL_GRID[0] // grid[0]
    if tuple(n * factor for n in grid) != NYU_FULL_GRID:
        raise ValueError(f'grid_size {grid} is not the NYU grid '
                         f'{NYU_FULL_GRID} divided by an integer factor')
    return factor


def nyu_targets(
    labels: np.ndarray,
    factors: Sequence[int] = (NYU_OUTPUT_FACTOR, NYU_CRP_FACTOR)
) -> dict:
    """Majority-pooled targets of a 240 x 144 x 240 training-id grid.

    Returns:
        dict ``'1_{f}'`` -> uint8 grid, each pooled from the full grid.
    """
    return {f'1_{f}': downsample_labels(labels, f) for f in factors}


def create_nyu_cache(
    data_root: str,
    out_dir: str,
    splits: Sequence[str] = NYU_SPLITS,
    factors: Sequence[int] = (NYU_OUTPUT_FACTOR, NYU_CRP_FACTOR)
) -> int:
    """Write the pooled label cache read by :class:`LoadNYULabels`.

    For every ``{data_root}/NYU{split}/{name}.bin`` it writes
    ``{out_dir}/NYU{split}/{name}_1_{f}.npy`` for each factor: by default
    ``_1_4.npy`` (60 x 36 x 60, the output grid) and ``_1_16.npy``
    (15 x 9 x 15, the CRP grid), uint8 training ids pooled from the full
    grid with the majority rule.

    Args:
        data_root: Folder holding ``NYUtrain/`` and ``NYUtest/``.
        out_dir: Cache root.
        splits: Splits to process.
        factors: Downsampling factors w.r.t. the 240 x 144 x 240 grid.

    Returns:
        int: Number of frames written.
    """
    jobs = []
    for split in splits:
        folder = split_folder(split)
        names = _frame_names(os.path.join(data_root, folder))
        if not names:
            print(f'{os.path.join(data_root, folder)}: no .bin files, '
                  f'skipped')
        jobs += [(folder, name) for name in names]
    if not jobs:
        raise ValueError(f'no NYU .bin files found under {data_root} for '
                         f'splits {", ".join(splits)}')
    start = time.perf_counter()
    for i, (folder, name) in enumerate(jobs, 1):
        _, _, labels = read_nyu_labels(
            os.path.join(data_root, folder, f'{name}.bin'))
        target_dir = os.path.join(out_dir, folder)
        os.makedirs(target_dir, exist_ok=True)
        for key, grid in nyu_targets(labels, factors).items():
            np.save(os.path.join(target_dir, f'{name}_{key}.npy'), grid)
        if i % 100 == 0 or i == len(jobs):
            elapsed = time.perf_counter() - start
            print(f'{i}/{len(jobs)} frames, '
                  f'{i / max(elapsed, 1e-9):.1f} frames/s')
    return len(jobs)
