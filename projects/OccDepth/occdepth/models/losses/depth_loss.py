"""Depth-distillation loss: BCE between depth probabilities and one-hot bins.

Reference: ``DepthClsLoss`` of the released OccDepth code (BEVDepth style),
paper Eq. 6.
"""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn


def depth_bce_loss(depth_prob: Tensor, target_bin: Tensor) -> Tensor:
    """Binary cross-entropy of depth probabilities against one-hot targets.

    Rows whose target is negative have no depth and are skipped. The loss is
    summed over the remaining rows and all ``D`` bins and divided by
    ``max(1, number of rows with a target)``; the rows of several supervised
    views are passed together (``OADepthHead.loss``), so views are pooled,
    not averaged. It is computed in float32 with
    autocast disabled; ``F.binary_cross_entropy`` clamps ``log`` at -100.

    Args:
        depth_prob: ``(N, D)`` probabilities (softmax output, not logits).
        target_bin: ``(N,)`` long bin index in ``[0, D)``, or -1 for none.
            A bin ``>= D`` is a RuntimeError (on a GPU: a device-side
            assertion, reported at the next synchronisation).

    Returns:
        Scalar loss.
    """
    if depth_prob.dim() != 2 or target_bin.shape != depth_prob.shape[:1]:
        raise ValueError(f'depth_bce_loss: expected depth_prob (N, D) and '
                         f'target_bin (N,), got {tuple(depth_prob.shape)} '
                         f'and {tuple(target_bin.shape)}')
    num_bins = depth_prob.shape[1]
    # A device-side check: it raises at once on the CPU and when the stream
    # next synchronises on a GPU, without a host synchronisation per step.
    torch._assert_async((target_bin < num_bins).all(),
                        f'depth_bce_loss: target bins must be < {num_bins}')
    fg = target_bin >= 0
    with torch.autocast(device_type=depth_prob.device.type, enabled=False):
        prob = depth_prob.float()
        onehot = F.one_hot(target_bin.clamp(min=0), num_bins).to(prob.dtype)
        bce = F.binary_cross_entropy(prob, onehot, reduction='none').sum(1)
        return (bce * fg).sum() / fg.sum().clamp(min=1)


@MODELS.register_module()
class DepthBCELoss(nn.Module):
    """:func:`depth_bce_loss` times ``loss_weight`` (paper Eq. 6).

    Args:
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, depth_prob: Tensor, target_bin: Tensor) -> Tensor:
        """Weighted loss of ``(N, D)`` probabilities and ``(N,)`` bins."""
        return depth_bce_loss(depth_prob, target_bin) * self.loss_weight
