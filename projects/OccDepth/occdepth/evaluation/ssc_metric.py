"""Semantic scene completion metric with the SemanticKITTI benchmark's rules.

The official ``evaluate_completion.py`` of the semantic-kitti-api builds one
confusion matrix over every evaluated voxel of the split and derives all
numbers from it. :class:`SSCMetric` does the same:

* ``process`` turns each sample into a ``num_classes x num_classes`` int64
  confusion matrix (rows = prediction, columns = ground truth, as in the
  benchmark) over the voxels whose ground truth is not ``ignore_index``.
  Only that matrix is stored, never the grids.
* mmengine's ``collect_results`` gathers the per-sample matrices of all
  ranks (one entry per sample, so padding duplicates of the distributed
  sampler are dropped) and ``compute_metrics`` sums them. One GPU and N GPUs
  therefore give identical numbers.

With ``C`` the summed matrix (rows = pred, cols = gt):

* per-class ``IoU_c = C[c, c] / (sum(C[c, :]) + sum(C[:, c]) - C[c, c]
  + 1e-15)``; a class absent from both prediction and ground truth scores 0.
* ``mIoU`` is the mean over classes ``1 .. num_classes - 1`` (class 0 is
  "empty"), always all of them.
* scene completion (occupied vs. empty): ``SC_IoU = sum(C[1:, 1:]) /
  (sum(C) - C[0, 0])``, ``SC_Precision = sum(C[1:, 1:]) / sum(C[1:, :])``,
  ``SC_Recall = sum(C[1:, 1:]) / sum(C[:, 1:])``. Where the benchmark would
  divide 0 by 0 (no occupied voxel at all) the score is 0. A split with
  no evaluated voxel at all is refused with an error instead of reporting
  zeros.

:func:`scores_from_confusion` returns fractions in ``[0, 1]`` exactly as the
benchmark's ``scores.txt``; :class:`SSCMetric` reports the same numbers as
percentages (``0 .. 100``), the unit of the OccDepth paper and of the
reference evaluation script, so ``save_best='mIoU'`` reads e.g. ``15.6``.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmdet3d.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from torch import Tensor

from projects.OccDepth.occdepth.datasets.label_maps import (
    IGNORE_INDEX, SEMANTICKITTI_CLASSES)

# Smoothing term of the benchmark's per-class IoU (semantic-kitti-api).
IOU_EPS = 1e-15


def confusion_matrix(pred: Union[Tensor, np.ndarray],
                     gt: Union[Tensor, np.ndarray],
                     num_classes: int,
                     ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Confusion matrix of one prediction against its ground truth.

    Voxels whose ground truth equals ``ignore_index`` are skipped together
    with the prediction there. The count runs on the device of ``pred``
    (a single ``torch.bincount``).

    Args:
        pred: Predicted labels, any shape, integer dtype.
        gt: Ground-truth labels with the shape of ``pred``.
        num_classes: Number of classes ``N`` (labels ``0 .. N - 1``).
        ignore_index: Ground-truth label that marks unevaluated voxels.

    Returns:
        int64 tensor ``(N, N)`` on ``pred``'s device with
        ``conf[p, g]`` = number of voxels predicted ``p`` whose ground truth
        is ``g`` (rows = prediction, columns = ground truth).

    Raises:
        ValueError: if the shapes differ, or if an evaluated voxel holds a
            label outside ``0 .. N - 1`` in the prediction or ground truth.
    """
    pred = torch.as_tensor(pred)
    gt = torch.as_tensor(gt, device=pred.device)
    if pred.shape != gt.shape:
        raise ValueError(f'confusion_matrix: prediction shape '
                         f'{tuple(pred.shape)} differs from ground-truth '
                         f'shape {tuple(gt.shape)}')
    if pred.is_floating_point() or gt.is_floating_point():
        raise ValueError('confusion_matrix: labels must be integers, got '
                         f'{pred.dtype} and {gt.dtype}')
    pred = pred.reshape(-1).long()
    gt = gt.reshape(-1).long()
    keep = gt != ignore_index
    pred = pred[keep]
    gt = gt[keep]
    for name, labels in (('prediction', pred), ('ground truth', gt)):
        bad = (labels < 0) | (labels >= num_classes)
        if bool(bad.any()):
            raise ValueError(
                f'confusion_matrix: the {name} holds label '
                f'{int(labels[bad][0])} outside 0..{num_classes - 1} at an '
                f'evaluated voxel (ignore_index={ignore_index})')
    counts = torch.bincount(
        pred * num_classes + gt, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _ratio(num: float, den: float) -> float:
    """``num / den``, or 0 where the denominator is 0."""
    return float(num) / float(den) if den > 0 else 0.0


def scores_from_confusion(conf: Union[Tensor, np.ndarray]) -> Dict[str, Any]:
    """Benchmark scores from a summed confusion matrix.

    Args:
        conf: ``(N, N)`` counts, rows = prediction, columns = ground truth,
            class 0 = empty (see :func:`confusion_matrix`).

    Returns:
        dict with fractions in ``[0, 1]``: ``sc_precision``, ``sc_recall``,
        ``sc_iou`` (occupied vs. empty), ``iou`` (float64 array ``(N,)``,
        per class, absent classes 0) and ``miou`` (mean over classes
        ``1 .. N - 1``).
    """
    if isinstance(conf, Tensor):
        conf = conf.detach().cpu().numpy()
    conf = np.asarray(conf, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1] or len(conf) < 2:
        raise ValueError('scores_from_confusion: expected a square matrix '
                         f'with at least 2 classes, got shape {conf.shape}')
    tp = np.diag(conf)
    fp = conf.sum(axis=1) - tp
    fn = conf.sum(axis=0) - tp
    iou = tp / (tp + fp + fn + IOU_EPS)
    occupied_tp = conf[1:, 1:].sum()
    return dict(
        sc_precision=_ratio(occupied_tp, conf[1:, :].sum()),
        sc_recall=_ratio(occupied_tp, conf[:, 1:].sum()),
        sc_iou=_ratio(occupied_tp,
                      conf.sum() - conf[0, 0]),
        iou=iou,
        miou=float(iou[1:].mean()))


def _field(sample: Any, key: str) -> Any:
    """Read ``key`` from a data sample given as a dict or a data element."""
    if isinstance(sample, dict):
        return sample.get(key)
    return getattr(sample, key, None)


def _sample_name(sample: Any) -> str:
    """``sequence/frame_id`` of a sample for error messages, if known."""
    parts = [_field(sample, k) for k in ('sequence', 'frame_id')]
    if all(p is None for p in parts):
        return '<unnamed sample>'
    return '/'.join(str(p) for p in parts if p is not None)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(row: Sequence[str]) -> str:
        return '| ' + ' | '.join(c.ljust(w)
                                 for c, w in zip(row, widths)) + ' |'

    body = [line(r) for r in rows[1:]]
    return '\n'.join([rule, line(rows[0]), rule] + body + [rule])


@METRICS.register_module()
class SSCMetric(BaseMetric):
    """Semantic scene completion metric (SemanticKITTI benchmark rules).

    Every data sample must carry ``gt_occ`` (ground truth, ``ignore_index``
    at invalid voxels) and ``pred_occ`` (prediction), integer grids of the
    same shape. Samples may be dicts (as mmengine's ``Evaluator`` passes
    them) or data elements. Reported keys, in percent: ``SC_Precision``,
    ``SC_Recall``, ``SC_IoU``, ``IoU_<class>`` for every class and ``mIoU``
    over classes ``1 .. N - 1``.

    Args:
        num_classes: Number of classes including "empty". ``None`` takes the
            length of ``dataset_meta['classes']``.
        ignore_index: Ground-truth label of unevaluated voxels.
        collect_device: ``'cpu'`` or ``'gpu'``, where ranks gather results.
        prefix: Optional prefix of the metric names.
    """

    # Bare names by default, so that ``save_best='mIoU'`` matches; an empty
    # string (unlike None) also avoids mmengine's "prefix is not set" warning.
    default_prefix = ''

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = IGNORE_INDEX,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if num_classes is not None and num_classes < 2:
            raise ValueError(f'SSCMetric: num_classes must be >= 2 (empty '
                             f'plus at least one class), got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _resolve_num_classes(self) -> int:
        """Number of classes from the argument or the dataset metainfo."""
        meta_classes = (self.dataset_meta or {}).get('classes')
        if self.num_classes is None:
            if meta_classes is None:
                raise ValueError(
                    'SSCMetric: num_classes is not set and dataset_meta has '
                    "no 'classes'")
            return len(meta_classes)
        if meta_classes is not None and len(meta_classes) != \
                self.num_classes:
            raise ValueError(
                f'SSCMetric: num_classes={self.num_classes} but the dataset '
                f"declares {len(meta_classes)} classes")
        return self.num_classes

    def class_names(self, num_classes: int) -> List[str]:
        """Class names from ``dataset_meta``, else a built-in fallback."""
        meta_classes = (self.dataset_meta or {}).get('classes')
        if meta_classes is not None and len(meta_classes) == num_classes:
            return [str(c) for c in meta_classes]
        if num_classes == len(SEMANTICKITTI_CLASSES):
            return list(SEMANTICKITTI_CLASSES)
        return [f'class_{i}' for i in range(num_classes)]

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store one confusion matrix per sample.

        Args:
            data_batch: The batch from the dataloader (unused).
            data_samples: Model outputs holding ``gt_occ`` and ``pred_occ``.
        """
        num_classes = self._resolve_num_classes()
        for sample in data_samples:
            gt = _field(sample, 'gt_occ')
            pred = _field(sample, 'pred_occ')
            name = _sample_name(sample)
            if gt is None:
                raise ValueError(
                    f"SSCMetric: sample {name} has no 'gt_occ'. The hidden "
                    'test split has no ground truth; write a submission '
                    'instead of evaluating it.')
            if pred is None:
                raise ValueError(
                    f"SSCMetric: sample {name} has no 'pred_occ'; the model's "
                    'predict() must set it')
            pred = torch.as_tensor(pred)
            gt = torch.as_tensor(gt)
            if pred.shape != gt.shape:
                raise ValueError(
                    f'SSCMetric: sample {name}: pred_occ shape '
                    f'{tuple(pred.shape)} differs from gt_occ shape '
                    f'{tuple(gt.shape)}')
            conf = confusion_matrix(pred, gt, num_classes, self.ignore_index)
            self.results.append(conf.cpu().numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Sum the per-sample matrices and score them.

        Args:
            results: Confusion matrices of all samples of all ranks.

        Returns:
            dict of percentages (see the class docstring).

        Raises:
            ValueError: if no voxel was evaluated (no frame, or every
                ground-truth voxel of every frame is ``ignore_index``):
                every score would be 0 / 0, not 0.
        """
        num_classes = self._resolve_num_classes()
        conf = np.zeros((num_classes, num_classes), dtype=np.int64)
        for part in results:
            conf += np.asarray(part, dtype=np.int64)
        if conf.sum() == 0:
            raise ValueError(
                f'SSCMetric: nothing to evaluate: the ground truth of the '
                f'{len(results)} evaluated frame(s) is ignore_index '
                f'({self.ignore_index}) at every voxel, so no score can be '
                f'computed. Either every voxel is flagged invalid or every '
                f'raw label id is unknown to (or ignored by) the learning '
                f'map; check the labels of this split (the label loader '
                f'warns with each file and its counts).')
        scores = scores_from_confusion(conf)
        names = self.class_names(num_classes)
        metrics = dict(
            SC_Precision=100.0 * scores['sc_precision'],
            SC_Recall=100.0 * scores['sc_recall'],
            SC_IoU=100.0 * scores['sc_iou'])
        for name, iou in zip(names, scores['iou']):
            metrics[f'IoU_{name}'] = 100.0 * float(iou)
        metrics['mIoU'] = 100.0 * scores['miou']

        rows = [['class', 'IoU (%)']]
        rows += [[n, f'{100.0 * v:.2f}'] for n, v in zip(names, scores['iou'])]
        rows += [['mIoU (1..N-1)', f"{metrics['mIoU']:.2f}"],
                 ['SC precision', f"{metrics['SC_Precision']:.2f}"],
                 ['SC recall', f"{metrics['SC_Recall']:.2f}"],
                 ['SC IoU', f"{metrics['SC_IoU']:.2f}"]]
        MMLogger.get_current_instance().info(
            f'SSC results over {len(results)} samples, '
            f'{int(conf.sum())} evaluated voxels:\n' + format_table(rows))
        return metrics
