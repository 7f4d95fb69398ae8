"""Semantic losses of MonoScene / OccDepth: CE, occupancy CE, SCAL.

Each loss is a function on batched tensors (the statement of the loss) and a
registered module holding its settings and ``loss_weight``. Labels are long
tensors with ``0`` for empty voxels and ``ignore_index`` (255) for voxels
without supervision. The scene-class affinity losses read class
probabilities, so that a head computes one softmax for all of them. Every
statistic stays on the device (no host syncs).
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from projects.OccDepth.occdepth.datasets.label_maps import named_class_weights
from projects.OccDepth.occdepth.models.ops import class_sums

IGNORE_INDEX = 255


def _as_weights(weights: Optional[Union[Tensor, Sequence[float]]],
                num_classes: int, like: Tensor) -> Optional[Tensor]:
    """Class weights as a tensor of ``like``'s dtype and device."""
    if weights is None:
        return None
    weights = torch.as_tensor(weights).to(like)
    if weights.shape != (num_classes, ):
        raise ValueError(f'class weights of shape {tuple(weights.shape)} '
                         f'for {num_classes} classes')
    return weights


def _neg_log(x: Tensor) -> Tensor:
    """``BCE(x, 1) = -log(x)`` with the log clamped at -100 like PyTorch."""
    x = x.clamp(0, 1)
    return F.binary_cross_entropy(x, torch.ones_like(x), reduction='none')


def _check_target(scores: Tensor, target: Tensor, name: str) -> None:
    if target.shape != scores.shape[:1] + scores.shape[2:]:
        raise ValueError(f'{name}: target of shape {tuple(target.shape)} '
                         f'does not match scores {tuple(scores.shape)}')


def _class_weight_buffer(
        weights: Optional[Union[str, Sequence[float]]]) -> Optional[Tensor]:
    """float64 weights (cast to the logits' dtype at use, like the authors);
    a string names a frequency table of ``label_maps``."""
    if weights is None:
        return None
    if isinstance(weights, str):
        weights = named_class_weights(weights)
    return torch.as_tensor(weights, dtype=torch.float64)


def ce_ssc_loss(logits: Tensor,
                target: Tensor,
                class_weights: Optional[Union[Tensor, Sequence[float]]] = None,
                ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Class-weighted cross-entropy, mean over supervised voxels.

    Equals ``F.cross_entropy(logits, target, weight, ignore_index)``, i.e.
    ``sum_i w[y_i] * nll_i / sum_i w[y_i]`` over voxels with
    ``y_i != ignore_index``, except that it is 0 (not NaN) when no voxel is
    supervised.

    Args:
        logits: ``(B, C, ...)``.
        target: ``(B, ...)`` long.
        class_weights: ``(C,)`` or ``None`` for uniform weights.
        ignore_index: Label without supervision.

    Returns:
        Scalar loss.
    """
    _check_target(logits, target, 'ce_ssc_loss')
    target = target.long()
    weights = _as_weights(class_weights, logits.shape[1], logits)
    total = F.cross_entropy(
        logits,
        target,
        weight=weights,
        ignore_index=ignore_index,
        reduction='sum')
    valid = target != ignore_index
    if weights is None:
        norm = valid.sum().to(logits.dtype)
    else:
        safe = torch.where(valid, target, torch.zeros_like(target))
        norm = (weights[safe] * valid).sum()
    return total / norm.clamp(min=torch.finfo(logits.dtype).tiny)


def occupancy_loss(occ_logits: Tensor,
                   target: Tensor,
                   weights: Optional[Union[Tensor, Sequence[float]]] = None,
                   ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Empty / occupied cross-entropy of the decoupled head.

    The semantic target is binarised: 0 stays 0, ``ignore_index`` stays
    ignored, every other label becomes 1.

    Args:
        occ_logits: ``(B, 2, ...)``.
        target: ``(B, ...)`` semantic labels.
        weights: ``(2,)`` class weights, or ``None``.
        ignore_index: Label without supervision.

    Returns:
        Scalar loss.
    """
    target = target.long()
    keep = (target == 0) | (target == ignore_index)
    occ_target = torch.where(keep, target, torch.ones_like(target))
    return ce_ssc_loss(occ_logits, occ_target, weights, ignore_index)


def sem_scal_loss(prob: Tensor,
                  target: Tensor,
                  ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Semantic scene-class affinity loss (MonoScene).

    Over supervised voxels and for every class ``c`` present in the target,
    with ``p_c`` its probability and ``t = [target == c]``: precision
    ``sum(p_c t) / sum(p_c)`` (if ``sum(p_c) > 0``), recall
    ``sum(p_c t) / sum(t)`` and specificity
    ``sum((1 - p_c)(1 - t)) / sum(1 - t)`` (if ``sum(1 - t) > 0``) each add
    ``-log(x)`` (clamped at 100); the result is averaged over the present
    classes (0 when none is present). All classes are handled at once, the
    sums in float64.

    Args:
        prob: ``(B, C, ...)`` class probabilities (softmax of the logits).
        target: ``(B, ...)`` long.
        ignore_index: Label without supervision.

    Returns:
        Scalar loss of ``prob``'s dtype.
    """
    _check_target(prob, target, 'sem_scal_loss')
    num_classes = prob.shape[1]
    flat = prob.flatten(2)
    target = target.long().flatten(1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    validf = valid.to(flat.dtype)
    acc = torch.float64
    # sum(p_c) and sum(p_c t) per class
    sum_p, inter = class_sums(flat, safe, validf)
    count = torch.zeros(
        num_classes, dtype=acc,
        device=flat.device).index_add(0, safe.flatten(),
                                      validf.flatten().to(acc))
    n_valid = validf.sum(dtype=acc)
    neg = n_valid - count
    # sum((1 - p_c)(1 - t)) = sum(1 - p_c) - sum_{t = c}(1 - p_c)
    true_neg = (n_valid - sum_p) - (count - inter)
    ones = torch.ones_like(sum_p)
    present = count > 0
    has_p = present & (sum_p > 0)
    has_neg = present & (neg > 0)
    precision = torch.where(has_p, inter / torch.where(has_p, sum_p, ones),
                            ones)
    recall = torch.where(present, inter / torch.where(present, count, ones),
                         ones)
    spec = torch.where(has_neg, true_neg / torch.where(has_neg, neg, ones),
                       ones)
    per_class = (
        _neg_log(precision) * has_p + _neg_log(recall) * present +
        _neg_log(spec) * has_neg)
    loss = per_class.sum() / present.sum().clamp(min=1)
    return loss.to(prob.dtype)


def geo_scal_loss(prob: Tensor,
                  target: Tensor,
                  ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Geometric scene-class affinity loss (MonoScene).

    With ``e = prob[:, 0]`` (empty probability), ``q = 1 - e`` and
    ``y = [target != 0]`` over supervised voxels, the loss is
    ``-log(sum(q y) / sum(q)) - log(sum(q y) / sum(y))
    - log(sum(e (1 - y)) / sum(1 - y))``, each log clamped at -100. A term
    whose denominator is 0 is left out (the reference returns NaN).

    Args:
        prob: ``(B, C, ...)`` class probabilities (softmax of the logits).
        target: ``(B, ...)`` long.
        ignore_index: Label without supervision.

    Returns:
        Scalar loss of ``prob``'s dtype.
    """
    _check_target(prob, target, 'geo_scal_loss')
    empty = prob[:, 0].flatten(1)
    target = target.long().flatten(1)
    valid = target != ignore_index
    acc = torch.float64
    occ = (valid & (target != 0)).to(empty.dtype)
    free = (valid & (target == 0)).to(empty.dtype)
    nonempty = (1 - empty) * valid
    inter = (nonempty * occ).sum(dtype=acc)
    sums = torch.stack(
        [nonempty.sum(dtype=acc),
         occ.sum(dtype=acc),
         free.sum(dtype=acc)])
    nums = torch.stack([inter, inter, (empty * free).sum(dtype=acc)])
    ok = sums > 0
    ones = torch.ones_like(sums)
    ratios = torch.where(ok, nums / torch.where(ok, sums, ones), ones)
    return (_neg_log(ratios) * ok).sum().to(prob.dtype)


@MODELS.register_module()
class SSCCrossEntropyLoss(nn.Module):
    """:func:`ce_ssc_loss` times ``loss_weight`` (MonoScene ``CE_ssc_loss``).

    Args:
        class_weight: ``(C,)`` weights of the classes, the name of a
            frequency table (``label_maps.named_class_weights``, e.g.
            ``'semantickitti'``), or ``None``: uniform.
        ignore_index: Label without supervision.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self,
                 class_weight: Optional[Union[str, Sequence[float]]] = None,
                 ignore_index: int = IGNORE_INDEX,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.register_buffer(
            'class_weight',
            _class_weight_buffer(class_weight),
            persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Weighted loss of ``(B, C, ...)`` logits and ``(B, ...)`` labels."""
        return self.loss_weight * ce_ssc_loss(
            logits, target, self.class_weight, self.ignore_index)


@MODELS.register_module()
class OccupancyLoss(SSCCrossEntropyLoss):
    """:func:`occupancy_loss` (empty / occupied CE) times ``loss_weight``.

    Args:
        class_weight: ``(2,)`` empty / occupied weights, a table name
            (``'semantickitti_occupancy'``), ``None``: uniform.
        ignore_index: Label without supervision.
        loss_weight: Multiplier of the loss.
    """

    def forward(self, occ_logits: Tensor, target: Tensor) -> Tensor:
        """Weighted loss of ``(B, 2, ...)`` logits and semantic labels."""
        return self.loss_weight * occupancy_loss(
            occ_logits, target, self.class_weight, self.ignore_index)


@MODELS.register_module()
class SemScalLoss(nn.Module):
    """:func:`sem_scal_loss` times ``loss_weight``.

    Args:
        ignore_index: Label without supervision.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self,
                 ignore_index: int = IGNORE_INDEX,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, prob: Tensor, target: Tensor) -> Tensor:
        """Weighted loss of ``(B, C, ...)`` probabilities and labels."""
        return self.loss_weight * sem_scal_loss(prob, target,
                                                self.ignore_index)


@MODELS.register_module()
class GeoScalLoss(SemScalLoss):
    """:func:`geo_scal_loss` times ``loss_weight``.

    Args:
        ignore_index: Label without supervision.
        loss_weight: Multiplier of the loss.
    """

    def forward(self, prob: Tensor, target: Tensor) -> Tensor:
        """Weighted loss of ``(B, C, ...)`` probabilities and labels."""
        return self.loss_weight * geo_scal_loss(prob, target,
                                                self.ignore_index)
