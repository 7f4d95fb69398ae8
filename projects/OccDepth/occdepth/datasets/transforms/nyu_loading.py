"""Loading transforms of the NYUv2 (RGB-D) pipeline: labels and depth.

The colour image is read by :class:`LoadStereoImages` with
``crop_size=None`` (a one-view list, no crop).
"""
import os
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from projects.OccDepth.occdepth.datasets.nyu_io import (read_nyu_depth,
                                                        read_nyu_labels)
from projects.OccDepth.occdepth.datasets.nyuv2 import (nyu_targets,
                                                       output_factor)
from projects.OccDepth.occdepth.datasets.transforms.loading import \
    check_depth_size
from projects.OccDepth.occdepth.datasets.voxel_labels import EmptyLabelReporter


@TRANSFORMS.register_module()
class LoadNYULabels(BaseTransform):
    """Load the NYU target at the output grid and at the CRP grid.

    Reads ``{label_cache_prefix}_1_{f}.npy`` written by
    ``tools/create_data.py nyu`` when the dataset gives a prefix, otherwise
    decodes the ``.bin`` (37 -> 12 classes, 255 kept) and majority-pools it.
    Both targets are pooled from the full 240 x 144 x 240 grid. A frame
    whose output grid is ignored (255) everywhere is reported by
    :class:`EmptyLabelReporter` and still loaded.

    Required Keys:

    - bin_path (str)
    - label_cache_prefix (str | None, optional)
    - grid_size (tuple[int, int, int]): the output grid, e.g. 60 x 36 x 60.

    Added Keys:

    - gt_occ (np.ndarray): uint8 ``grid_size`` labels.
    - gt_occ_crp (np.ndarray): uint8 labels at the context-prior grid,
      ``grid_size / crp_factor`` (15 x 9 x 15: 1:16 of the files), when
      ``crp_factor`` is set.

    Args:
        crp_factor: Downsampling of the CRP labels relative to the output
            grid (4 for the NYU UNet, whose CRP runs at 1/4 of its input),
            or None to skip them.
    """

    def __init__(self, crp_factor: Optional[int] = 4) -> None:
        if crp_factor is not None and (int(crp_factor) != crp_factor
                                       or crp_factor < 1):
            raise ValueError(f'crp_factor must be a positive integer or '
                             f'None, got {crp_factor}')
        self.crp_factor = None if crp_factor is None else int(crp_factor)
        self.empty_reporter = EmptyLabelReporter()

    @staticmethod
    def _load_cached(path: str, shape: Tuple[int, ...]) -> np.ndarray:
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f'NYU label cache file not found: {path}; run '
                f'tools/create_data.py nyu or drop label_cache_root')
        labels = np.load(path)
        if labels.dtype != np.uint8 or labels.shape != shape:
            raise ValueError(f'{path}: cached labels are {labels.dtype} '
                             f'{labels.shape}, expected uint8 {shape}; '
                             f'rebuild the cache with tools/create_data.py '
                             f'nyu')
        return labels

    def transform(self, results: dict) -> dict:
        """Attach ``gt_occ`` (and ``gt_occ_crp``) to ``results``."""
        grid = tuple(int(n) for n in results['grid_size'])
        factors = [output_factor(grid)]
        shapes = [grid]
        if self.crp_factor is not None:
            if any(n % self.crp_factor for n in grid):
                raise ValueError(f'grid {grid} is not divisible by '
                                 f'crp_factor {self.crp_factor}')
            factors.append(factors[0] * self.crp_factor)
            shapes.append(tuple(n // self.crp_factor for n in grid))
        prefix = results.get('label_cache_prefix')
        if prefix is not None:
            source = f'{prefix}_1_{factors[0]}.npy'
            targets = [
                self._load_cached(f'{prefix}_1_{f}.npy', shape)
                for f, shape in zip(factors, shapes)
            ]
        else:
            source = results['bin_path']
            _, _, labels = read_nyu_labels(source)
            pooled = nyu_targets(labels, factors)
            targets = [pooled[f'1_{f}'] for f in factors]
        self.empty_reporter.check(
            targets[0], source,
            lambda: f'every voxel of the {grid} target is 255 (not '
            f'labelled)')
        results['gt_occ'] = targets[0]
        if self.crp_factor is not None:
            results['gt_occ_crp'] = targets[1]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crp_factor={self.crp_factor})'


@TRANSFORMS.register_module()
class LoadNYUDepth(BaseTransform):
    """Load the Kinect depth map of a NYU frame as ``gt_depth``.

    With virtual stereo the depth is a model *input* (train and test).

    Required Keys:

    - depth_path (str)
    - ori_shape, img_shape (tuple[int, int], optional): when present
      (after ``LoadStereoImages``), the depth map must have these sizes
      (it is not cropped).

    Added Keys:

    - gt_depth (np.ndarray): float32 ``(H, W)`` metres, 0 = no measurement,
      clipped to ``max_depth``.

    Args:
        max_depth: Upper clip in metres (the reference clamps to 10).
        bit_rotation: Undo SSCNet's 3-bit rotation (exact); False divides
            the raw value by 8000 like the released code (same below
            8.192 m).
    """

    def __init__(self,
                 max_depth: float = 10.0,
                 bit_rotation: bool = True) -> None:
        if max_depth <= 0:
            raise ValueError(f'max_depth must be positive, got {max_depth}')
        self.max_depth = float(max_depth)
        self.bit_rotation = bit_rotation

    def transform(self, results: dict) -> dict:
        """Read, check and clip the depth PNG."""
        path = results['depth_path']
        depth = read_nyu_depth(path, self.bit_rotation)
        check_depth_size(path, depth.shape, results, 'LoadNYUDepth')
        results['gt_depth'] = np.clip(depth, 0.0, self.max_depth)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_depth={self.max_depth}, '
                f'bit_rotation={self.bit_rotation})')
