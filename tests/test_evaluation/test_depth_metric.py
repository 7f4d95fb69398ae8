"""DepthMetric: AbsRel and delta<1.25 by hand, invalid pixels excluded."""
import pytest
import torch
from mmdet3d.registry import METRICS

import projects.OccDepth.occdepth  # noqa: F401
from projects.OccDepth.occdepth.evaluation import DepthMetric, depth_error_sums


def test_depth_error_sums_by_hand():
    # valid: 2 -> 2.2 (|0.2| / 2 = 0.1, ratio 1.1) and 4 -> 6 (0.5, ratio
    # 1.5); 0 is unknown and 10 lies beyond the range: neither counts
    gt = torch.tensor([[2.0, 4.0], [0.0, 10.0]])
    pred = torch.tensor([[2.2, 6.0], [5.0, 1.0]])
    abs_rel, within, count = depth_error_sums(pred, gt, (1.0, 8.0))
    assert count == 2
    assert within == 1
    assert abs_rel == pytest.approx(0.1 + 0.5)


def test_metric_pools_pixels_over_frames():
    metric = METRICS.build(dict(type='DepthMetric', depth_range=(1.0, 8.0)))
    samples = [
        dict(
            pred_depth=torch.tensor([[2.2, 6.0], [5.0, 1.0]]),
            gt_depth=torch.tensor([[2.0, 4.0], [0.0, 10.0]])),
        # one valid pixel: 3 -> 2.5, |0.5| / 3, ratio 1.2 (< 1.25)
        dict(
            pred_depth=torch.tensor([[2.5, 7.0]]),
            gt_depth=torch.tensor([[3.0, 0.0]])),
    ]
    metric.process(None, samples)
    scores = metric.evaluate(2)
    assert scores['AbsRel'] == pytest.approx((0.1 + 0.5 + 0.5 / 3) / 3)
    assert scores['delta_1_25'] == pytest.approx(100 * 2 / 3)


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match='shape'):
        depth_error_sums(torch.ones(2, 2), torch.ones(2, 3), (0.5, 9.0))
    with pytest.raises(ValueError, match='positive'):
        depth_error_sums(torch.zeros(1, 1), torch.ones(1, 1), (0.5, 9.0))
    with pytest.raises(ValueError, match='depth_range'):
        DepthMetric(depth_range=(5.0, 1.0))
    metric = DepthMetric(depth_range=(1.0, 8.0))
    with pytest.raises(ValueError, match="no 'pred_depth'"):
        metric.process(None, [dict(gt_depth=torch.ones(1, 1))])
    metric.process(
        None,
        [dict(pred_depth=torch.ones(1, 2), gt_depth=torch.tensor([[0., 9.]]))])
    with pytest.raises(ValueError, match='no valid ground-truth depth'):
        metric.evaluate(1)
