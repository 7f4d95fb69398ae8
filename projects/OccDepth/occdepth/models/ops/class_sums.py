"""Per-class probability sums of the semantic scene-class affinity loss.

For probabilities ``p`` ``(B, C, N)``, labels ``y`` ``(B, N)`` in
``[0, C)`` and voxel weights ``w`` ``(B, N)`` (1 for supervised voxels, 0
elsewhere), per class ``c``:

* ``sum_p[c] = sum_i w_i p_ic``
* ``inter[c] = sum_i w_i p_ic [y_i = c]``

MonoScene's ``sem_scal_loss`` computes both in a loop over the classes.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable


def class_sums_reference(prob: Tensor, labels: Tensor,
                         weight: Tensor) -> Tuple[Tensor, Tensor]:
    """The plain formulation, in float64.

    Args:
        prob: ``(B, C, N)`` class probabilities.
        labels: ``(B, N)`` long labels in ``[0, C)``.
        weight: ``(B, N)`` voxel weights.

    Returns:
        tuple: ``sum_p`` and ``inter``, float64 ``(C,)``.
    """
    p = prob.double() * weight.double()[:, None]
    onehot = F.one_hot(labels, prob.shape[1]).permute(0, 2, 1)
    return p.sum(dim=(0, 2)), (p * onehot).sum(dim=(0, 2))


class _ClassSums(torch.autograd.Function):
    """Both sums in one pass; the backward writes the gradient in one pass.

    The sums run in the input dtype with PyTorch's cascade summation and are
    returned in float64.
    """

    @staticmethod
    def forward(ctx, prob: Tensor, labels: Tensor,
                weight: Tensor) -> Tuple[Tensor, Tensor]:
        num_classes = prob.shape[1]
        acc = torch.float64
        sum_p = (prob * weight[:, None]).sum(dim=(0, 2)).to(acc)
        p_true = prob.gather(1, labels[:, None])[:, 0] * weight
        inter = torch.zeros(
            num_classes, dtype=acc,
            device=prob.device).index_add_(0, labels.flatten(),
                                           p_true.flatten().to(acc))
        ctx.save_for_backward(labels, weight)
        return sum_p, inter

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_sum: Tensor,
                 grad_inter: Tensor) -> Tuple[Optional[Tensor], None, None]:
        labels, weight = ctx.saved_tensors
        dtype = weight.dtype
        grad = grad_sum.to(dtype)[None, :, None] * weight[:, None]
        grad.scatter_add_(1, labels[:, None],
                          (grad_inter.to(dtype)[labels] * weight)[:, None])
        return grad, None, None


def class_sums(prob: Tensor, labels: Tensor,
               weight: Tensor) -> Tuple[Tensor, Tensor]:
    """:func:`class_sums_reference` without the ``(B, C, N)`` one-hot.

    Args:
        prob: ``(B, C, N)`` class probabilities.
        labels: ``(B, N)`` long labels in ``[0, C)``.
        weight: ``(B, N)`` voxel weights of ``prob``'s dtype.

    Returns:
        tuple: ``sum_p`` and ``inter``, float64 ``(C,)``.
    """
    return _ClassSums.apply(prob, labels, weight)
