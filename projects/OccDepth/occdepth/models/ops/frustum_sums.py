"""Per-frustum class statistics of the frustum proportion loss.

A voxel belongs to local frustum ``k`` (an image cell) when any view
projects it into cell ``k``: a voxel that two views put into the same cell
counts once, one that they put into two cells counts in both. Per frustum,
summed over the batch:

* ``prob_sums[k, c] = sum of p_c`` over the voxels of frustum ``k``,
* ``counts[k, c]`` = number of voxels of frustum ``k`` labelled ``c``.

MonoScene (``compute_local_frustums`` and ``FrustumProportionLoss``) builds
one voxel mask per frustum and sums under it.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Largest number of view-cell combinations summed in a single pass.
MAX_CELL_CODES = 1 << 16


def _check(prob: Tensor, labels: Tensor, cells: Tensor) -> None:
    bs, _, n_vox = prob.shape
    if labels.shape != (bs, n_vox) or cells.dim() != 3 \
            or cells.shape[0] != bs or cells.shape[2] != n_vox:
        raise ValueError(
            f'frustum_class_sums: expected prob (B, C, N), labels (B, N) '
            f'and cells (B, V, N), got {tuple(prob.shape)}, '
            f'{tuple(labels.shape)} and {tuple(cells.shape)}')


def frustum_class_sums_reference(prob: Tensor, labels: Tensor, cells: Tensor,
                                 num_frustums: int) -> Tuple[Tensor, Tensor]:
    """The plain formulation: one mask per frustum.

    Args:
        prob: ``(B, C, N)`` class probabilities.
        labels: ``(B, N)`` long labels in ``[0, C)``.
        cells: ``(B, V, N)`` long cell of every voxel in every view, -1 (or
            any value outside ``[0, num_frustums)``) for none.
        num_frustums: Number of cells ``K``.

    Returns:
        tuple: ``prob_sums`` and ``counts``, ``(K, C)`` of ``prob``'s dtype.
    """
    _check(prob, labels, cells)
    onehot = F.one_hot(labels, prob.shape[1]).permute(0, 2, 1).to(prob)
    prob_sums, counts = [], []
    for k in range(num_frustums):
        mask = (cells == k).any(dim=1)[:, None]  # (B, 1, N)
        prob_sums.append((prob * mask).sum(dim=(0, 2)))
        counts.append((onehot * mask).sum(dim=(0, 2)))
    return torch.stack(prob_sums), torch.stack(counts)


def _code_incidence(bins: int, num_views: int, like: Tensor) -> Tensor:
    """``(bins ** V, bins)``: how often cell ``k`` is a digit of a code."""
    codes = torch.arange(bins**num_views, device=like.device)
    incidence = torch.zeros(
        bins**num_views, bins, dtype=like.dtype, device=like.device)
    for v in range(num_views):
        digit = torch.div(codes, bins**v, rounding_mode='floor') % bins
        incidence[codes, digit] += 1
    return incidence


def frustum_class_sums(prob: Tensor, labels: Tensor, cells: Tensor,
                       num_frustums: int) -> Tuple[Tensor, Tensor]:
    """:func:`frustum_class_sums_reference` in one scatter over the voxels.

    Each voxel's cells in the ``V`` views, with ``K`` for none and repeats
    of an earlier view's cell, are the digits of a base-``(K + 1)`` code;
    the probabilities are summed per code (one scatter), then spread onto
    the cells by a ``(K + 1) ** V x (K + 1)`` incidence matrix. With more
    than :data:`MAX_CELL_CODES` codes each view is scattered on its own.

    Args:
        prob: ``(B, C, N)`` class probabilities.
        labels: ``(B, N)`` long labels in ``[0, C)``.
        cells: ``(B, V, N)`` long cell of every voxel in every view, -1 (or
            any value outside ``[0, num_frustums)``) for none.
        num_frustums: Number of cells ``K``.

    Returns:
        tuple: ``prob_sums`` and ``counts``, ``(K, C)`` of ``prob``'s dtype.
    """
    _check(prob, labels, cells)
    bs, num_classes, n_vox = prob.shape
    cells = cells.long()
    num_views = cells.shape[1]
    bins = num_frustums + 1
    # Cells out of range go to an extra bin ``num_frustums`` that is dropped
    # at the end.
    inside = (cells >= 0) & (cells < num_frustums)
    cells = torch.where(inside, cells, num_frustums)
    # A view that repeats the cell of an earlier view adds nothing.
    views = [cells[:, 0]]
    for v in range(1, num_views):
        dup = (cells[:, v:v + 1] == cells[:, :v]).any(dim=1)
        views.append(torch.where(dup, num_frustums, cells[:, v]))
    index = torch.stack(views, dim=1)
    # (C, B * N): a view for B = 1
    flat = prob.transpose(0, 1).reshape(num_classes, bs * n_vox)
    if bins**num_views <= MAX_CELL_CODES:
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
    codes = index * num_classes + labels[:, None]
    # index_add, not bincount: bincount reads the largest code back to the
    # host to size its output (a device synchronisation per step)
    codes = codes.reshape(-1)
    counts = codes.new_zeros(bins * num_classes).index_add_(
        0, codes, torch.ones_like(codes))
    counts = counts.reshape(bins, num_classes)[:num_frustums].to(cum.dtype)
    return cum, counts
