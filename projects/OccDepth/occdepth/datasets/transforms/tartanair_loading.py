"""Loading of TartanAir's ground-truth depth maps (``.npy``, metres)."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from projects.OccDepth.occdepth.datasets.tartanair import (
    read_tartanair_depth, valid_depth_mask)
from projects.OccDepth.occdepth.datasets.transforms.loading import \
    check_depth_size


@TRANSFORMS.register_module()
class LoadTartanAirDepth(BaseTransform):
    """Load the left view's depth ``.npy`` as the distillation target.

    TartanAir renders exact z-depth, so the map is used as it is; invalid
    values (non-finite, ``<= 0`` or beyond ``max_depth``) become 0, the
    "unknown" value of ``gt_depth``.

    Required Keys:

    - depth_path (str): ``depth_left/{frame}_left_depth.npy``.
    - ori_shape, img_shape (tuple[int, int], optional): when present
      (after ``LoadStereoImages``), the depth map must have these sizes
      (it is not cropped).

    Added Keys:

    - gt_depth (np.ndarray): float32 ``(H, W)`` metres, 0 = unknown.

    Args:
        max_depth: Depths beyond it are set to 0, or None to keep them.
    """

    def __init__(self, max_depth: Optional[float] = None) -> None:
        if max_depth is not None and not max_depth > 0:
            raise ValueError(f'max_depth must be positive or None, got '
                             f'{max_depth}')
        self.max_depth = max_depth

    def transform(self, results: dict) -> dict:
        """Read the depth map of view 0 into ``gt_depth``."""
        path = results.get('depth_path')
        if path is None:
            raise ValueError(
                f'sample {results.get("sequence")}/{results.get("frame_id")}'
                f' has no depth_path')
        depth = read_tartanair_depth(path)
        check_depth_size(path, depth.shape, results, 'LoadTartanAirDepth')
        valid = valid_depth_mask(depth, self.max_depth)
        results['gt_depth'] = np.where(valid, depth, 0).astype(
            np.float32, copy=False)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(max_depth={self.max_depth})'
