"""Semantic scene completion losses of MonoScene / OccDepth.

Pure functions on batched tensors. Labels are long tensors with ``0`` for
empty voxels and ``ignore_index`` (255) for voxels without supervision.
All statistics are computed on the logits' device without host syncs.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

IGNORE_INDEX = 255
RELATION_COUNTS = (2, 4)


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


def _check_target(logits: Tensor, target: Tensor, name: str) -> None:
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f'{name}: target of shape {tuple(target.shape)} '
                         f'does not match logits {tuple(logits.shape)}')


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


def softmax_probs(logits: Tensor, prob: Optional[Tensor] = None) -> Tensor:
    """``softmax(logits, dim=1)``, or ``prob`` when it was computed already.

    The scene-class affinity and frustum losses all need the class
    probabilities; a caller that computes them once and passes them as
    ``prob`` saves one softmax (and its backward) per loss.
    """
    if prob is None:
        return logits.softmax(dim=1)
    if prob.shape != logits.shape:
        raise ValueError(f'prob of shape {tuple(prob.shape)} for logits of '
                         f'shape {tuple(logits.shape)}')
    return prob


class _ClassSums(torch.autograd.Function):
    """Per-class ``sum(p_c)`` and ``sum(p_c [y = c])`` over valid voxels.

    Inputs ``prob`` ``(B, C, N)``, ``safe`` ``(B, N)`` labels (any class
    where invalid) and ``validf`` ``(B, N)`` 0/1; outputs float64 ``(C,)``.
    Sums run in float32 with PyTorch's cascade summation and are returned in
    float64. The backward writes the gradient in one pass.
    """

    @staticmethod
    def forward(ctx, prob: Tensor, safe: Tensor,
                validf: Tensor) -> Tuple[Tensor, Tensor]:
        num_classes = prob.shape[1]
        acc = torch.float64
        sum_p = (prob * validf[:, None]).sum(dim=(0, 2)).to(acc)
        p_true = prob.gather(1, safe[:, None])[:, 0] * validf
        inter = torch.zeros(
            num_classes, dtype=acc,
            device=prob.device).index_add_(0, safe.flatten(),
                                           p_true.flatten().to(acc))
        ctx.save_for_backward(safe, validf)
        return sum_p, inter

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_sum: Tensor,
                 grad_inter: Tensor) -> Tuple[Optional[Tensor], None, None]:
        safe, validf = ctx.saved_tensors
        dtype = validf.dtype
        grad = grad_sum.to(dtype)[None, :, None] * validf[:, None]
        grad.scatter_add_(1, safe[:, None],
                          (grad_inter.to(dtype)[safe] * validf)[:, None])
        return grad, None, None


def sem_scal_loss(logits: Tensor,
                  target: Tensor,
                  ignore_index: int = IGNORE_INDEX,
                  prob: Optional[Tensor] = None) -> Tensor:
    """Semantic scene-class affinity loss (MonoScene).

    With ``p = softmax(logits)``, over supervised voxels and for every class
    ``c`` present in the target, with ``t = [target == c]``:
    precision ``sum(p_c t) / sum(p_c)`` (if ``sum(p_c) > 0``), recall
    ``sum(p_c t) / sum(t)`` and specificity
    ``sum((1 - p_c)(1 - t)) / sum(1 - t)`` (if ``sum(1 - t) > 0``) each add
    ``-log(x)`` (clamped at 100); the result is averaged over the present
    classes (0 when none is present). All classes are handled at once.

    Args:
        logits: ``(B, C, ...)``.
        target: ``(B, ...)`` long.
        ignore_index: Label without supervision.
        prob: ``softmax(logits, dim=1)`` if already computed.

    Returns:
        Scalar loss.
    """
    _check_target(logits, target, 'sem_scal_loss')
    num_classes = logits.shape[1]
    prob = softmax_probs(logits, prob).flatten(2)
    target = target.long().flatten(1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    validf = valid.to(prob.dtype)
    acc = torch.float64
    sum_p, inter = _ClassSums.apply(prob, safe, validf)
    count = torch.zeros(
        num_classes, dtype=acc,
        device=prob.device).index_add(0, safe.flatten(),
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
    return loss.to(logits.dtype)


def geo_scal_loss(logits: Tensor,
                  target: Tensor,
                  ignore_index: int = IGNORE_INDEX,
                  prob: Optional[Tensor] = None) -> Tensor:
    """Geometric scene-class affinity loss (MonoScene).

    With ``e = softmax(logits)[:, 0]`` (empty probability), ``q = 1 - e`` and
    ``y = [target != 0]`` over supervised voxels, the loss is
    ``-log(sum(q y) / sum(q)) - log(sum(q y) / sum(y))
    - log(sum(e (1 - y)) / sum(1 - y))``, each log clamped at -100. A term
    whose denominator is 0 is left out (the reference returns NaN).

    Args:
        logits: ``(B, C, ...)``.
        target: ``(B, ...)`` long.
        ignore_index: Label without supervision.
        prob: ``softmax(logits, dim=1)`` if already computed.

    Returns:
        Scalar loss.
    """
    _check_target(logits, target, 'geo_scal_loss')
    empty = softmax_probs(logits, prob)[:, 0].flatten(1)
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
    return (_neg_log(ratios) * ok).sum().to(logits.dtype)


# Largest number of view-cell combinations summed in a single pass.
_MAX_CELL_CODES = 1 << 16


def _code_incidence(bins: int, num_views: int, like: Tensor) -> Tensor:
    """``(bins ** V, bins)``: how often cell ``k`` is a digit of a code."""
    codes = torch.arange(bins**num_views, device=like.device)
    incidence = torch.zeros(
        bins**num_views, bins, dtype=like.dtype, device=like.device)
    for v in range(num_views):
        digit = torch.div(codes, bins**v, rounding_mode='floor') % bins
        incidence[codes, digit] += 1
    return incidence


def frustum_proportion_loss(logits: Tensor,
                            target: Tensor,
                            frustum_cells: Tensor,
                            num_frustums: int,
                            ignore_index: int = IGNORE_INDEX,
                            prob: Optional[Tensor] = None) -> Tensor:
    """Frustum proportion loss (MonoScene), one scatter pass for all views.

    A voxel belongs to local frustum ``k`` (an image cell) when any view
    projects it into cell ``k`` and its label is supervised; a voxel that
    two views put into the same cell counts once, one that they put into two
    cells counts in both. Per frustum, over the whole batch, the predicted
    class distribution is the normalised sum of ``softmax(logits)`` and the
    target distribution the normalised label histogram; the loss is
    ``KL(target || predicted)`` over classes with non-zero target
    proportion, averaged over non-empty frustums (0 when all are empty).

    The probabilities are summed per combination of the views' cells (one
    scatter over the voxels), then spread onto the cells by a small matrix
    product.

    Args:
        logits: ``(B, C, X, Y, Z)`` (any spatial shape).
        target: ``(B, X, Y, Z)`` long.
        frustum_cells: ``(B, V, X*Y*Z)`` long, cell id of each voxel in view
            ``v`` (C order) or -1 when it is outside that image.
        num_frustums: Number of cells ``K`` (``frustum_size ** 2``).
        ignore_index: Label without supervision.
        prob: ``softmax(logits, dim=1)`` if already computed.

    Returns:
        Scalar loss.
    """
    _check_target(logits, target, 'frustum_proportion_loss')
    bs, num_classes = logits.shape[:2]
    prob = softmax_probs(logits, prob).flatten(2)
    n_vox = prob.shape[2]
    if frustum_cells.dim() != 3 or frustum_cells.shape[0] != bs \
            or frustum_cells.shape[2] != n_vox:
        raise ValueError('frustum_proportion_loss: frustum_cells of shape '
                         f'{tuple(frustum_cells.shape)}, expected (B={bs}, '
                         f'V, N={n_vox})')
    target = target.long().flatten(1)
    valid = target != ignore_index
    cells = frustum_cells.long()
    num_views = cells.shape[1]
    bins = num_frustums + 1
    # Unsupervised voxels and cells out of range go to an extra bin
    # ``num_frustums`` that is dropped at the end.
    inside = valid[:, None] & (cells >= 0) & (cells < num_frustums)
    cells = torch.where(inside, cells, num_frustums)
    # A view that repeats the cell of an earlier view adds nothing.
    views = [cells[:, 0]]
    for v in range(1, num_views):
        dup = (cells[:, v:v + 1] == cells[:, :v]).any(dim=1)
        views.append(torch.where(dup, num_frustums, cells[:, v]))
    index = torch.stack(views, dim=1)
    # (C, B * N): a view for B = 1
    flat = prob.transpose(0, 1).reshape(num_classes, bs * n_vox)
    if bins**num_views <= _MAX_CELL_CODES:
        code = index[:, 0]
        for v in range(1, num_views):
            code = code + index[:, v] * bins**v
        per_code = prob.new_zeros(num_classes, bins**num_views).index_add(
            1, code.reshape(-1), flat)
        # sums of up to N probabilities: never in a reduced precision
        with torch.autocast(prob.device.type, enabled=False):
            cum = per_code @ _code_incidence(bins, num_views, per_code)
    else:
        cum = prob.new_zeros(num_classes, bins)
        for v in range(num_views):
            cum = cum.index_add(1, index[:, v].reshape(-1), flat)
    cum = cum[:, :num_frustums].t()
    safe = torch.where(valid, target, torch.zeros_like(target))
    codes = index * num_classes + safe[:, None]
    counts = torch.bincount(codes.reshape(-1), minlength=bins * num_classes)
    counts = counts.reshape(bins, num_classes)[:num_frustums].to(cum.dtype)
    total = cum.sum(dim=1, keepdim=True)
    total_cnt = counts.sum(dim=1, keepdim=True)
    ok = (total > 0) & (total_cnt > 0)
    ones = torch.ones_like(total)
    pred = cum / torch.where(ok, total, ones)
    prop = counts / torch.where(ok, total_cnt, ones)
    sel = ok & (prop > 0)
    one = torch.ones_like(pred)
    kl = prop * (
        torch.where(sel, prop, one).log() - torch.where(sel, pred, one).log())
    kl = torch.where(sel, kl, torch.zeros_like(kl))
    return kl.sum() / ok.sum().clamp(min=1)


def compute_relation_targets(gt_1_8: Tensor,
                             n_relations: int = 4,
                             ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Context-prior relation targets between voxels and super-voxels.

    Super-voxels are the 2x2x2 blocks of the grid (odd axes floored), ``M``
    of them in C order; rows are the ``N`` voxels in C order. Relation
    ``r`` holds for (voxel ``n``, super-voxel ``m``) when it holds between
    the label ``l_n != ignore`` and any supervised child label ``l`` of
    ``m``. With 4 relations: 0 same non-empty (``l_n == l != 0``),
    1 different non-empty (``l_n != l``, both non-zero), 2 empty-empty
    (``l_n == l == 0``), 3 non-empty vs empty (``l_n != l``, one of them
    0). With 2 relations: 0 different (``l_n != l``), 1 same.

    Args:
        gt_1_8: ``(B, X, Y, Z)`` labels in ``[0, 255]``.
        n_relations: 4 or 2.
        ignore_index: Label without supervision.

    Returns:
        Bool tensor ``(B, R, N, M)``.
    """
    if n_relations not in RELATION_COUNTS:
        raise ValueError(f'compute_relation_targets: n_relations must be '
                         f'one of {RELATION_COUNTS}, got {n_relations}')
    if gt_1_8.dim() != 4 or min(gt_1_8.shape[1:]) < 2:
        raise ValueError('compute_relation_targets: expected (B, X, Y, Z) '
                         'labels with every axis >= 2, got shape '
                         f'{tuple(gt_1_8.shape)}')
    labels = gt_1_8.long()
    bs, sx, sy, sz = labels.shape
    hx, hy, hz = sx // 2, sy // 2, sz // 2
    children = labels[:, :2 * hx, :2 * hy, :2 * hz].reshape(
        bs, hx, 2, hy, 2, hz, 2).permute(0, 1, 3, 5, 2, 4,
                                         6).reshape(bs, hx * hy * hz, 8)
    # present[b, m, l]: super-voxel m has a child labelled l (not ignored).
    present = F.one_hot(children, 256).amax(dim=2).bool()
    present[..., ignore_index] = False
    rows = labels.reshape(bs, -1)
    batch = torch.arange(bs, device=labels.device)[:, None]
    same = present.transpose(1, 2)[batch, rows]
    valid_row = (rows != ignore_index)[..., None]
    if n_relations == 2:
        n_present = present.sum(dim=2)[:, None]
        diff = valid_row & (n_present - same.long() > 0)
        return torch.stack([diff, same], dim=1)
    empty_row = (rows == 0)[..., None]
    full_row = valid_row & ~empty_row
    has_empty = present[..., 0][:, None]
    n_full = present[..., 1:].sum(dim=2)[:, None]
    same_full = same & full_row
    diff_full = full_row & (n_full - same.long() > 0)
    empty_empty = empty_row & has_empty
    full_empty = (empty_row & (n_full > 0)) | (full_row & has_empty)
    return torch.stack([same_full, diff_full, empty_empty, full_empty], dim=1)


def relation_loss(relation_logits: Tensor, relation_targets: Tensor) -> Tensor:
    """Context-prior relation loss (MonoScene CP multilabel loss).

    Binary cross-entropy with logits, mean over every (sample, relation,
    voxel, super-voxel) entry, with per-relation ``pos_weight`` = #negatives
    / #positives of that relation in this batch (1 positive assumed when
    there is none).

    Args:
        relation_logits: ``(B, R, M, N)`` as returned by the CRP.
        relation_targets: ``(B, R, N, M)`` bool / 0-1 tensor.

    Returns:
        Scalar loss.
    """
    logits = relation_logits.transpose(2, 3)
    if relation_targets.shape != logits.shape:
        raise ValueError('relation_loss: targets of shape '
                         f'{tuple(relation_targets.shape)} for logits of '
                         f'shape {tuple(relation_logits.shape)} (B, R, M, N)')
    labels = relation_targets.to(logits.dtype)
    n_rel = labels.shape[1]
    pos = labels.sum(dim=(0, 2, 3))
    neg = labels[:, 0].numel() - pos
    pos_weight = (neg / pos.clamp(min=1)).view(1, n_rel, 1, 1)
    return F.binary_cross_entropy_with_logits(
        logits, labels, pos_weight=pos_weight)
