"""Element-wise prefix -> convolution, keeping only the prefix's input.

``conv(prefix(x))`` (2D or 3D), where ``prefix`` is a chain of cheap
element-wise operations (BatchNorm, swish, ReLU, padding,
squeeze-excitation gating), keeps
every intermediate of the prefix for the backward pass: the BN output
(the swish's input), the padded copy (the convolution's input), and so on.
:func:`recompute_prefix_conv` keeps only ``x``. Its backward pass re-runs
the same prefix operations on the same saved ``x`` and backpropagates
through them with autograd, as activation checkpointing does, but the
convolution itself is never recomputed: its backward is PyTorch's
``convolution_backward``, the very kernel autograd's ``ConvolutionBackward0``
calls, on the recomputed input.

No formula is rewritten: the kernels are deterministic for a given input and
thread count, so values, gradients and BN running statistics are bitwise
those of :func:`recompute_prefix_conv_reference`. The prefix must not draw
random numbers (a recomputation would draw again) and must update module
state (BN running statistics) only when called with ``recompute=False``:
:func:`batch_norm` is the BN layer's forward with that switch.
"""
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn.modules.batchnorm import _BatchNorm

# prefix(x, recompute) -> the convolution's input
Prefix = Callable[[Tensor, bool], Tensor]
_CONV = {4: F.conv2d, 5: F.conv3d}


def batch_norm(bn: _BatchNorm, x: Tensor, recompute: bool) -> Tensor:
    """``bn(x)``; with ``recompute=True``, the same output without touching
    the layer's buffers.

    The recomputation runs the layer's own forward (its class's, such as
    ``_BatchNorm.forward`` of torch/nn/modules/batchnorm.py) with copies in
    place of its buffers, so the running statistics and
    ``num_batches_tracked`` it updates are copies, dropped afterwards.
    """
    if not recompute:
        return bn(x)
    buffers = dict(bn.named_buffers(recurse=False))
    try:
        for name, value in buffers.items():
            setattr(bn, name, value.clone())
        return bn(x)
    finally:
        for name, value in buffers.items():
            setattr(bn, name, value)


def recompute_prefix_conv_reference(prefix: Prefix, x: Tensor,
                                    params: Sequence[Tensor], weight: Tensor,
                                    bias: Optional[Tensor],
                                    stride: Sequence[int],
                                    padding: Sequence[int],
                                    dilation: Sequence[int],
                                    groups: int) -> Tensor:
    """The plain formulation: ``conv(prefix(x, False), weight, ...)``.

    Args:
        prefix: ``prefix(x, recompute)``: element-wise operations, no random
            draws; module state is updated only when ``recompute`` is False.
        x: The prefix's input.
        params: The tensors ``prefix`` reads besides ``x`` (its modules'
            parameters), which receive gradients.
        weight, bias, stride, padding, dilation, groups: The arguments of
            the ``F.conv2d`` / ``F.conv3d`` (by the weight's dimensions)
            after the prefix.
    """
    return _CONV[weight.dim()](prefix(x, False), weight, bias, stride, padding,
                               dilation, groups)


class _RecomputePrefixConv(torch.autograd.Function):

    @staticmethod
    def forward(ctx, prefix: Prefix, conf: tuple, x: Tensor, weight: Tensor,
                bias: Optional[Tensor], *params: Tensor) -> Tensor:
        stride, padding, dilation, groups = conf
        out = _CONV[weight.dim()](prefix(x, False), weight, bias, stride,
                                  padding, dilation, groups)
        ctx.prefix = prefix
        ctx.conf = conf
        ctx.has_bias = bias is not None
        # parameters of the prefix's modules: their gradients are taken
        # through the recomputed graph, which reads these very tensors
        ctx.params = params
        ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        params = ctx.params
        stride, padding, dilation, groups = ctx.conf
        need = ctx.needs_input_grad
        need_x, need_w, need_b, need_p = need[2], need[3], need[4], need[5:]
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(need_x)
            inp = ctx.prefix(leaf, True)
        grad_in, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad, inp.detach(), weight,
            [weight.shape[0]] if ctx.has_bias else None, stride, padding,
            dilation, False, [0] * (weight.dim() - 2), groups,
            [inp.requires_grad, need_w, ctx.has_bias and need_b])
        wanted = [leaf] if need_x else []
        wanted += [p for p, n in zip(params, need_p) if n]
        grads = iter(
            torch.autograd.grad(inp, wanted, grad_in, allow_unused=True
                                ) if wanted and inp.requires_grad else [None] *
            len(wanted))
        grad_x = next(grads) if need_x else None
        grad_p = [next(grads) if n else None for n in need_p]
        return (None, None, grad_x, grad_w, grad_b, *grad_p)


def recompute_prefix_conv(prefix: Prefix, x: Tensor, params: Sequence[Tensor],
                          weight: Tensor, bias: Optional[Tensor],
                          stride: Sequence[int], padding: Sequence[int],
                          dilation: Sequence[int], groups: int) -> Tensor:
    """:func:`recompute_prefix_conv_reference`, keeping only ``x`` (and
    the convolution's weight) for the backward pass.

    ``params`` must list every tensor of ``prefix`` that needs a gradient:
    gradients reach only these, ``x``, ``weight`` and ``bias``.
    """
    conf = (list(stride), list(padding), list(dilation), groups)
    return _RecomputePrefixConv.apply(prefix, conf, x, weight, bias, *params)
