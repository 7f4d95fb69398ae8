"""Frustum proportion loss of MonoScene (OccDepth keeps it, paper Sec. 3.5).

The image is split into ``frustum_size`` x ``frustum_size`` cells; the
voxels projecting into a cell form its local frustum. Per frustum the class
distribution of the predicted probabilities should match that of the
labels.
"""
import torch
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.losses.ssc_losses import (IGNORE_INDEX,
                                                                 _check_target)
from projects.OccDepth.occdepth.models.ops import frustum_class_sums


def frustum_proportion_loss(prob: Tensor,
                            target: Tensor,
                            frustum_cells: Tensor,
                            num_frustums: int,
                            ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Frustum proportion loss over all views and the whole batch.

    A supervised voxel belongs to local frustum ``k`` when any view projects
    it into cell ``k`` (:func:`ops.frustum_class_sums`). Per frustum, the
    predicted class distribution is the normalised sum of the probabilities
    and the target distribution the normalised label histogram; the loss is
    ``KL(target || predicted)`` over classes with non-zero target
    proportion, averaged over non-empty frustums (0 when all are empty).

    Args:
        prob: ``(B, C, X, Y, Z)`` class probabilities (any spatial shape).
        target: ``(B, X, Y, Z)`` long.
        frustum_cells: ``(B, V, X*Y*Z)`` long, cell id of each voxel in view
            ``v`` (C order) or -1 when it is outside that image.
        num_frustums: Number of cells ``K`` (``frustum_size ** 2``).
        ignore_index: Label without supervision.

    Returns:
        Scalar loss.
    """
    _check_target(prob, target, 'frustum_proportion_loss')
    bs, _ = prob.shape[:2]
    prob = prob.flatten(2)
    n_vox = prob.shape[2]
    if frustum_cells.dim() != 3 or frustum_cells.shape[0] != bs \
            or frustum_cells.shape[2] != n_vox:
        raise ValueError('frustum_proportion_loss: frustum_cells of shape '
                         f'{tuple(frustum_cells.shape)}, expected (B={bs}, '
                         f'V, N={n_vox})')
    target = target.long().flatten(1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    # unsupervised voxels belong to no frustum
    cells = torch.where(valid[:, None], frustum_cells.long(), -1)
    cum, counts = frustum_class_sums(prob, safe, cells, num_frustums)
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


@MODELS.register_module()
class FrustumProportionLoss(nn.Module):
    """:func:`frustum_proportion_loss` times ``loss_weight``.

    Args:
        frustum_size: Image cells per side; ``frustum_size ** 2`` frustums.
        ignore_index: Label without supervision.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self,
                 frustum_size: int = 8,
                 ignore_index: int = IGNORE_INDEX,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if frustum_size < 1:
            raise ValueError('FrustumProportionLoss: frustum_size must be '
                             f'positive, got {frustum_size}')
        self.frustum_size = frustum_size
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, prob: Tensor, target: Tensor,
                frustum_cells: Tensor) -> Tensor:
        """Weighted loss; see :func:`frustum_proportion_loss`."""
        return self.loss_weight * frustum_proportion_loss(
            prob, target, frustum_cells, self.frustum_size**2,
            self.ignore_index)
