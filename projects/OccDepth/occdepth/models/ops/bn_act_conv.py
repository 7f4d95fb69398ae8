"""Training-mode BatchNorm -> (Leaky)ReLU -> convolution, saving one tensor.

``conv(act(bn(x)))`` with batch statistics keeps two full-size tensors for
the backward pass: the BN input ``x`` and the activation (the convolution's
input; an in-place activation shares it). :func:`bn_act_conv` keeps only the
normalised input ``x_hat = (x - mean) * invstd``: the backward pass
recomputes the activation ``act(weight * x_hat + bias)`` for the
convolution's weight gradient, takes the activation's gradient mask from its
sign, and runs BN's backward on ``x_hat`` (with mean 0, inverse std 1 and
the weight scaled by the inverse std, the same formula). This is the
in-place activated BN idea (Rota Bulo et al., CVPR 2018) without inverting
the activation, so it holds for ReLU too and never divides by the BN weight.

The batch statistics, ``x_hat`` and the running-statistics update are
PyTorch's own BN kernel (``torch.native_batch_norm`` without affine
parameters), on the contiguous layout (see ``LayoutPreservingBatchNorm3d``:
the channels-last CPU kernel is less precise). The convolution runs in the
memory format of its weight. Results agree with the module chain to float
rounding (the affine map is applied separately from the normalisation).
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn.modules.batchnorm import _BatchNorm

_CONV = {4: F.conv2d, 5: F.conv3d}


def _layout(weight: Tensor) -> torch.memory_format:
    """The memory format of a convolution weight (contiguous or last)."""
    if weight.is_contiguous():
        return torch.contiguous_format
    return (torch.channels_last_3d
            if weight.dim() == 5 else torch.channels_last)


def _activate(x_hat: Tensor, weight: Tensor, bias: Tensor, slope: float,
              layout: torch.memory_format) -> Tensor:
    """``act(weight * x_hat + bias)``, written in ``layout``."""
    shape = (1, -1) + (1, ) * (x_hat.dim() - 2)
    y = torch.empty_like(x_hat, memory_format=layout)
    torch.addcmul(bias.view(shape), x_hat, weight.view(shape), out=y)
    return F.leaky_relu_(y, slope) if slope else y.relu_()


def bn_act_conv_reference(x: Tensor, bn: _BatchNorm, slope: float,
                          conv: nn.Module) -> Tensor:
    """The plain formulation: ``conv(act(bn(x)))``.

    Args:
        x: ``(N, C, ...)`` BN input.
        bn: A BatchNorm layer in training mode with running statistics.
        slope: Negative slope of the LeakyReLU; 0 for ReLU.
        conv: A ``Conv2d`` / ``Conv3d`` (zero padding, given in the layer).
    """
    return conv(F.leaky_relu(bn(x), slope))


class _BNActConv(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: Tensor, bn_weight: Tensor, bn_bias: Tensor,
                running_mean: Tensor, running_var: Tensor, momentum: float,
                eps: float, slope: float, conv_weight: Tensor,
                conv_bias: Optional[Tensor], stride: Sequence[int],
                padding: Sequence[int], dilation: Sequence[int],
                groups: int) -> Tensor:
        x_hat, _, invstd = torch.native_batch_norm(x.contiguous(), None, None,
                                                   running_mean, running_var,
                                                   True, momentum, eps)
        layout = _layout(conv_weight)
        act = _activate(x_hat, bn_weight, bn_bias, slope, layout)
        out = _CONV[x.dim()](act, conv_weight, conv_bias, stride, padding,
                             dilation, groups)
        ctx.save_for_backward(x_hat, bn_weight, bn_bias, invstd, conv_weight)
        ctx.conf = (eps, slope, conv_bias is not None, list(stride),
                    list(padding), list(dilation), groups, layout)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple:
        x_hat, bn_weight, bn_bias, invstd, conv_weight = ctx.saved_tensors
        eps, slope, has_bias, stride, padding, dilation, groups, layout = \
            ctx.conf
        need = ctx.needs_input_grad
        act = _activate(x_hat, bn_weight, bn_bias, slope, layout)
        zeros = [0] * (x_hat.dim() - 2)
        grad_act, grad_cw, grad_cb = torch.ops.aten.convolution_backward(
            grad, act, conv_weight,
            [conv_weight.shape[0]] if has_bias else None, stride, padding,
            dilation, False, zeros, groups,
            [True, need[8], has_bias and need[9]])
        # the activation's gradient: its sign is that of its input
        if slope:
            grad_act = torch.where(act > 0, grad_act, grad_act * slope)
        else:
            grad_act.masked_fill_(act <= 0, 0)
        del act
        grad_y = grad_act.contiguous()
        del grad_act
        channels = x_hat.shape[1]
        grad_x, grad_w, grad_b = torch.ops.aten.native_batch_norm_backward(
            grad_y, x_hat, bn_weight * invstd, None, None,
            x_hat.new_zeros(channels), x_hat.new_ones(channels), True, eps,
            [need[0], need[1], need[2]])
        return (grad_x, grad_w, grad_b, None, None, None, None, None, grad_cw,
                grad_cb, None, None, None, None)


def bn_act_conv(x: Tensor, bn: _BatchNorm, slope: float,
                conv: nn.Module) -> Tensor:
    """:func:`bn_act_conv_reference` keeping only ``x_hat`` for backward.

    For a BN layer in training mode that tracks running statistics with a
    fixed momentum (its running statistics and ``num_batches_tracked`` are
    updated as the layer would); a zero-padded convolution.
    """
    if not (bn.training and bn.track_running_stats and bn.affine
            and bn.momentum is not None):
        raise ValueError('bn_act_conv: needs an affine BN layer in training '
                         'mode with running statistics and a momentum')
    if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
        raise ValueError('bn_act_conv: needs numeric zero padding, got '
                         f'{conv.padding_mode} / {conv.padding}')
    bn.num_batches_tracked.add_(1)
    return _BNActConv.apply(x, bn.weight, bn.bias, bn.running_mean,
                            bn.running_var, bn.momentum, bn.eps, slope,
                            conv.weight, conv.bias, conv.stride, conv.padding,
                            conv.dilation, conv.groups)
