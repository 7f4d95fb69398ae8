"""Tests of the SSC metric against hand-computed values and the benchmark."""
import numpy as np
import pytest
import torch
from mmdet3d.registry import METRICS
from mmdet3d.structures import Det3DDataSample
from mmengine.evaluator import Evaluator
from mmengine.structures import BaseDataElement

from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_CLASSES, SEMANTICKITTI_LEARNING_MAP, semantickitti_remap_lut)
from projects.OccDepth.occdepth.evaluation import (SSCMetric, confusion_matrix,
                                                   scores_from_confusion)

# 2x2x2 grid, 4 classes (class 3 never appears). Voxel 6 is ignored in the
# ground truth and its prediction (2) must not count.
GT = torch.tensor([0, 0, 1, 1, 2, 2, 255, 0], dtype=torch.uint8)
PRED = torch.tensor([0, 1, 1, 2, 2, 0, 2, 0], dtype=torch.long)
# (pred, gt) pairs of the 7 evaluated voxels: (0,0) (1,0) (1,1) (2,1) (2,2)
# (0,2) (0,0); rows = prediction, columns = ground truth.
EXPECTED_CONF = np.array([[2, 0, 1, 0], [1, 1, 0, 0], [0, 1, 1, 0],
                          [0, 0, 0, 0]])


def test_confusion_matrix_hand_computed():
    conf = confusion_matrix(PRED.reshape(2, 2, 2), GT.reshape(2, 2, 2), 4)
    assert conf.dtype == torch.int64
    np.testing.assert_array_equal(conf.numpy(), EXPECTED_CONF)


def test_prediction_at_ignored_voxel_is_ignored():
    pred = PRED.clone()
    pred[6] = 3
    conf = confusion_matrix(pred, GT, 4)
    np.testing.assert_array_equal(conf.numpy(), EXPECTED_CONF)
    # Even a label outside the class range is fine where gt is 255.
    pred[6] = 200
    np.testing.assert_array_equal(
        confusion_matrix(pred, GT, 4).numpy(), EXPECTED_CONF)


def test_scores_hand_computed():
    scores = scores_from_confusion(EXPECTED_CONF)
    # Occupied pred: voxels 1,2,3,4; occupied gt: 2,3,4,5 -> 3 shared.
    assert scores['sc_precision'] == pytest.approx(3 / 4, rel=1e-12)
    assert scores['sc_recall'] == pytest.approx(3 / 4, rel=1e-12)
    assert scores['sc_iou'] == pytest.approx(3 / 5, rel=1e-12)
    np.testing.assert_allclose(
        scores['iou'], [2 / 4, 1 / 3, 1 / 3, 0.0], rtol=1e-12)
    # Absent class 3 counts 0 in the mean over classes 1..3.
    assert scores['miou'] == pytest.approx(2 / 9, rel=1e-12)


def test_scores_empty_scene_are_zero():
    conf = np.zeros((3, 3), dtype=np.int64)
    conf[0, 0] = 10
    scores = scores_from_confusion(conf)
    assert scores['sc_iou'] == 0.0
    assert scores['sc_precision'] == 0.0
    assert scores['sc_recall'] == 0.0
    assert scores['miou'] == 0.0
    assert scores['iou'][0] == pytest.approx(1.0)


def test_metric_hand_computed_percent_and_names():
    metric = SSCMetric()
    metric.dataset_meta = dict(classes=('empty', 'car', 'road', 'pole'))
    sample = dict(gt_occ=GT.reshape(2, 2, 2), pred_occ=PRED.reshape(2, 2, 2))
    metric.process({}, [sample])
    assert len(metric.results) == 1
    assert metric.results[0].shape == (4, 4)
    out = metric.evaluate(1)
    assert out['SC_Precision'] == pytest.approx(75.0)
    assert out['SC_Recall'] == pytest.approx(75.0)
    assert out['SC_IoU'] == pytest.approx(60.0)
    assert out['IoU_empty'] == pytest.approx(50.0)
    assert out['IoU_car'] == pytest.approx(100 / 3)
    assert out['IoU_road'] == pytest.approx(100 / 3)
    assert out['IoU_pole'] == 0.0
    assert out['mIoU'] == pytest.approx(200 / 9)
    assert metric.results == []


def test_metric_accepts_data_elements_and_fallback_names():
    metric = SSCMetric(num_classes=20)
    gt = torch.zeros(2, 2, 2, dtype=torch.uint8)
    gt[0, 0, 0] = 1
    sample = BaseDataElement(gt_occ=gt, pred_occ=gt.long())
    metric.process({}, [sample])
    out = metric.compute_metrics(metric.results)
    assert out['IoU_car'] == pytest.approx(100.0)
    assert out['SC_IoU'] == pytest.approx(100.0)
    assert out['mIoU'] == pytest.approx(100.0 / 19)
    assert set(f'IoU_{c}' for c in SEMANTICKITTI_CLASSES) <= set(out)


def test_through_mmengine_evaluator_with_det3d_samples():
    evaluator = Evaluator(METRICS.build(dict(type='SSCMetric')))
    evaluator.dataset_meta = dict(classes=('empty', 'car', 'road', 'pole'))
    sample = Det3DDataSample(metainfo=dict(sequence='08', frame_id='000000'))
    sample.gt_occ = GT.reshape(2, 2, 2)
    sample.pred_occ = PRED.reshape(2, 2, 2)
    evaluator.process([sample], data_batch={})
    out = evaluator.evaluate(1)
    assert out['SC_IoU'] == pytest.approx(60.0)
    assert out['mIoU'] == pytest.approx(200 / 9)


def test_metric_errors():
    metric = SSCMetric(num_classes=3)
    with pytest.raises(ValueError, match="00/000005 has no 'gt_occ'"):
        metric.process({}, [
            dict(
                pred_occ=torch.zeros(2, 2, 2).long(),
                sequence='00',
                frame_id='000005')
        ])
    with pytest.raises(ValueError, match='pred_occ'):
        metric.process({}, [dict(gt_occ=torch.zeros(2, 2, 2).long())])
    with pytest.raises(ValueError, match='shape'):
        metric.process({}, [
            dict(
                gt_occ=torch.zeros(2, 2, 2).long(),
                pred_occ=torch.zeros(2, 2, 1).long())
        ])
    with pytest.raises(ValueError, match='label 5 outside'):
        metric.process({}, [
            dict(gt_occ=torch.zeros(2).long(), pred_occ=torch.tensor([0, 5]))
        ])
    with pytest.raises(ValueError, match='num_classes is not set'):
        SSCMetric().process({}, [dict(gt_occ=GT, pred_occ=PRED)])
    mismatch = SSCMetric(num_classes=3)
    mismatch.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    with pytest.raises(ValueError, match='declares 4 classes'):
        mismatch.process({}, [dict(gt_occ=GT, pred_occ=PRED)])


def _random_samples(rng, num, shape, num_classes):
    samples = []
    for i in range(num):
        gt = torch.from_numpy(rng.integers(0, num_classes, shape))
        gt[torch.from_numpy(rng.random(shape) < 0.2)] = 255
        pred = torch.from_numpy(rng.integers(0, num_classes, shape))
        samples.append(
            dict(
                gt_occ=gt.to(torch.uint8), pred_occ=pred, frame_id=f'{i:06d}'))
    return samples


def test_two_ranks_equal_one():
    rng = np.random.default_rng(0)
    samples = _random_samples(rng, 5, (4, 4, 3), 5)
    single = SSCMetric(num_classes=5)
    single.process({}, samples[:2])
    single.process({}, samples[2:])
    rank0, rank1 = SSCMetric(num_classes=5), SSCMetric(num_classes=5)
    rank0.process({}, samples[0::2])
    rank1.process({}, samples[1::2])
    gathered = rank0.results + rank1.results
    assert single.compute_metrics(single.results) == \
        rank0.compute_metrics(gathered)


def _benchmark_scores(raw_gts, raw_preds, invalids):
    """Independent re-implementation of evaluate_completion.py's rules."""
    max_key = max(SEMANTICKITTI_LEARNING_MAP)
    lut = np.zeros(max_key + 100, dtype=np.int32)
    for raw, train in SEMANTICKITTI_LEARNING_MAP.items():
        lut[raw] = train
    lut[lut == 0] = 255
    lut[0] = 0
    n = 20
    conf = np.zeros((n, n), dtype=np.int64)
    for raw_gt, raw_pred, invalid in zip(raw_gts, raw_preds, invalids):
        target = lut[raw_gt]
        pred = lut[raw_pred]
        mask = np.ones_like(target, dtype=bool)
        mask[target == 255] = False
        mask[invalid == 1] = False
        np.add.at(conf, (pred[mask], target[mask]), 1)
    tp = np.diag(conf).astype(np.float64)
    fp = conf.sum(axis=1) - tp
    fn = conf.sum(axis=0) - tp
    iou = tp / (tp + fp + fn + 1e-15)
    occ = np.sum(conf[1:, 1:])
    return dict(
        SC_Precision=occ / np.sum(conf[1:, :]),
        SC_Recall=occ / np.sum(conf[:, 1:]),
        SC_IoU=occ / (np.sum(conf) - conf[0, 0]),
        iou=iou,
        mIoU=iou[1:].mean())


def test_matches_benchmark_rules_on_raw_ids():
    rng = np.random.default_rng(1234)
    raw_ids = np.array(sorted(SEMANTICKITTI_LEARNING_MAP))
    remap = semantickitti_remap_lut()
    # Ids the benchmark maps to a class (pred must use those, else the
    # benchmark crashes); leave out 'bicycle' (11) and 'trunk' (71) so that
    # two classes are absent from every prediction.
    pred_ids = np.array(
        [r for r in raw_ids if remap[r] != 255 and r not in (11, 71)])
    # Ground truth also holds ignored ids (1, 52, 99) and unknown ones.
    gt_ids = np.concatenate([raw_ids[raw_ids != 11], [7, 100, 300]])
    shape = (8, 8, 4)
    raw_gts, raw_preds, invalids = [], [], []
    for _ in range(4):
        raw_gt = rng.choice(gt_ids, size=shape)
        raw_gt[rng.random(shape) < 0.4] = 0
        raw_pred = rng.choice(pred_ids, size=shape)
        raw_pred[rng.random(shape) < 0.4] = 0
        raw_gts.append(raw_gt.astype(np.uint16))
        raw_preds.append(raw_pred.astype(np.uint16))
        invalids.append((rng.random(shape) < 0.15).astype(np.uint8))
    expected = _benchmark_scores(raw_gts, raw_preds, invalids)

    metric = SSCMetric(num_classes=20)
    metric.dataset_meta = dict(classes=SEMANTICKITTI_CLASSES)
    for raw_gt, raw_pred, invalid in zip(raw_gts, raw_preds, invalids):
        gt = remap[raw_gt]
        gt[invalid == 1] = 255
        pred = remap[raw_pred].astype(np.int64)
        metric.process({}, [
            dict(gt_occ=torch.from_numpy(gt), pred_occ=torch.from_numpy(pred))
        ])
    out = metric.evaluate(len(raw_gts))
    for key in ('SC_Precision', 'SC_Recall', 'SC_IoU', 'mIoU'):
        assert abs(out[key] - 100 * expected[key]) < 1e-9, key
    for name, iou in zip(SEMANTICKITTI_CLASSES, expected['iou']):
        assert abs(out[f'IoU_{name}'] - 100 * iou) < 1e-9, name
    assert out['IoU_bicycle'] == 0.0
    assert 0 < out['mIoU'] < 100
