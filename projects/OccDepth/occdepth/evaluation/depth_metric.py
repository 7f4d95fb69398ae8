"""Accuracy of a predicted depth map against a ground-truth one.

The two standard monocular-depth scores over the valid pixels ``i`` (ground
truth ``g_i > 0`` inside ``depth_range``; a depth map stores 0 where the
depth is unknown):

* ``AbsRel = mean_i |p_i - g_i| / g_i``;
* ``delta<1.25 = 100 * mean_i [max(p_i / g_i, g_i / p_i) < 1.25]`` (in %).

Both are pooled over every valid pixel of every frame (not averaged per
frame), so a frame weighs by its valid pixels.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet3d.registry import METRICS
from mmengine.evaluator import BaseMetric

DELTA_THRESHOLD = 1.25


def depth_error_sums(pred: torch.Tensor, gt: torch.Tensor,
                     depth_range: Sequence[float]) -> Tuple[float, int, int]:
    """Sums of one frame for :class:`DepthMetric`.

    Args:
        pred: Predicted depth in metres, the shape of ``gt``.
        gt: Ground-truth depth in metres, 0 where unknown.
        depth_range: ``(min, max)``: pixels whose ground truth lies outside
            are not scored.

    Returns:
        tuple: sum of ``|p - g| / g``, count of pixels with
        ``max(p / g, g / p) < 1.25`` and count of valid pixels.
    """
    pred = torch.as_tensor(pred, dtype=torch.float64)
    gt = torch.as_tensor(gt, dtype=torch.float64)
    if pred.shape != gt.shape:
        raise ValueError(f'DepthMetric: pred_depth shape {tuple(pred.shape)} '
                         f'differs from gt_depth shape {tuple(gt.shape)}')
    lo, hi = depth_range
    valid = (gt > 0) & (gt >= lo) & (gt <= hi)
    p, g = pred[valid], gt[valid]
    if (p <= 0).any():
        raise ValueError('DepthMetric: pred_depth must be positive where '
                         'the ground truth is valid')
    abs_rel = ((p - g).abs() / g).sum().item()
    ratio = torch.maximum(p / g, g / p)
    within = int((ratio < DELTA_THRESHOLD).sum())
    return abs_rel, within, int(valid.sum())


@METRICS.register_module()
class DepthMetric(BaseMetric):
    """AbsRel and delta<1.25 of ``pred_depth`` against ``gt_depth``.

    Each data sample must hold ``pred_depth`` and ``gt_depth`` of the same
    ``(H, W)`` shape (the left view's depth in metres).

    Args:
        depth_range: ``(min, max)`` of the ground-truth depths scored.
        collect_device: mmengine's ``BaseMetric`` argument.
        prefix: mmengine's ``BaseMetric`` argument.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 depth_range: Sequence[float] = (1e-3, float('inf')),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if len(depth_range) != 2 or not 0 <= depth_range[0] < depth_range[1]:
            raise ValueError(f'DepthMetric: depth_range must be (min, max) '
                             f'with 0 <= min < max, got {depth_range}')
        self.depth_range = tuple(float(d) for d in depth_range)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store the error sums of every sample."""
        for sample in data_samples:
            fields = {}
            for key in ('pred_depth', 'gt_depth'):
                value = (
                    sample.get(key) if isinstance(sample, dict) else getattr(
                        sample, key, None))
                if value is None:
                    raise ValueError(f"DepthMetric: a sample has no '{key}'")
                fields[key] = value
            self.results.append(
                depth_error_sums(fields['pred_depth'], fields['gt_depth'],
                                 self.depth_range))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Pool the sums; an evaluation without a valid pixel is an error."""
        sums = np.asarray(results, dtype=np.float64).reshape(-1, 3).sum(0)
        if sums[2] == 0:
            raise ValueError(
                f'DepthMetric: no valid ground-truth depth in the '
                f'{len(results)} evaluated frame(s) (depth_range '
                f'{self.depth_range})')
        return dict(
            AbsRel=float(sums[0] / sums[2]),
            delta_1_25=float(100.0 * sums[1] / sums[2]))
