"""Context relation loss of the 3D context relation prior (MonoScene CRP).

The CRP predicts, for every voxel and every 2x2x2 super-voxel, logits of
``R`` relations between their labels; the loss supervises them with the
relations of the 1:8 (KITTI) / 1:4 (NYU) labels (paper Sec. 3.4, MonoScene's
``compute_CP_mega_matrix`` and ``CE_ssc_loss`` on the relation matrix).
"""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.losses.ssc_losses import IGNORE_INDEX

RELATION_COUNTS = (2, 4)


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


@MODELS.register_module()
class ContextRelationLoss(nn.Module):
    """:func:`relation_loss` of the targets of the CRP-resolution labels.

    The number of relations (4, or 2 for the binary prior) is that of the
    logits.

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

    def forward(self, relation_logits: Tensor, gt_occ_crp: Tensor) -> Tensor:
        """Weighted loss of ``(B, R, M, N)`` logits and ``(B, x, y, z)``
        labels at the CRP resolution."""
        targets = compute_relation_targets(gt_occ_crp,
                                           relation_logits.shape[1],
                                           self.ignore_index)
        return self.loss_weight * relation_loss(relation_logits, targets)
