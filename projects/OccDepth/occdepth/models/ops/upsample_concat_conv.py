"""Upsample, concatenate with a skip, convolve: the UNet decoder step.

The decoder stages of the 2D UNet (``DecoderBN``'s ``UpSampleBN`` in the
authors' ``occdepth/models/unet2d.py``) compute::

    conv(cat([interpolate(x, skip size, bilinear, align_corners), skip]))

Autograd keeps the concatenated full-size tensor for the convolution's
backward pass (99 channels at full resolution, 171 MiB per 370x1220 view
for EfficientNet-B3). :func:`upsample_concat_conv` applies the convolution
as the sum of its upsampled-input part and its skip part and keeps only the
small input ``x`` and the skip (an encoder tap that its own layers keep
anyway); the upsampled tensor is recomputed in the backward pass. The sums
run in another order than the concatenated convolution, so the results
agree to float rounding.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable


def _upsample(x: Tensor, size: Tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode='bilinear', align_corners=True)


def upsample_concat_conv_reference(x: Tensor, skip: Tensor, weight: Tensor,
                                   bias: Optional[Tensor],
                                   padding: int) -> Tensor:
    """The plain formulation.

    Args:
        x: ``(N, C_x, h, w)`` coarse features.
        skip: ``(N, C_s, H, W)`` skip features; ``x`` is upsampled to
            ``H x W`` (bilinear, ``align_corners=True``).
        weight: ``(C_out, C_x + C_s, k, k)`` convolution weight, the
            upsampled channels first.
        bias: ``(C_out,)`` or ``None``.
        padding: Zero padding of the stride-1 convolution.

    Returns:
        ``(N, C_out, H', W')`` convolution output.
    """
    up = _upsample(x, skip.shape[-2:])
    return F.conv2d(
        torch.cat([up, skip], dim=1), weight, bias, padding=padding)


class _UpsampleConcatConv(torch.autograd.Function):
    """Split convolution that saves ``x`` instead of the concatenation."""

    @staticmethod
    def forward(ctx, x: Tensor, skip: Tensor, weight: Tensor,
                bias: Optional[Tensor], padding: int) -> Tensor:
        channels = x.shape[1]
        up = _upsample(x, skip.shape[-2:])
        out = F.conv2d(up, weight[:, :channels], bias, padding=padding)
        out += F.conv2d(skip, weight[:, channels:], None, padding=padding)
        ctx.save_for_backward(x, skip, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple:
        x, skip, weight = ctx.saved_tensors
        need_x, need_skip, need_w, need_b = ctx.needs_input_grad[:4]
        channels = x.shape[1]
        pad = [ctx.padding] * 2
        conv_args = ([1, 1], pad, [1, 1], False, [0, 0], 1)
        up = _upsample(x, skip.shape[-2:])
        w_up = weight[:, :channels]
        grad_up, grad_w_up, grad_b = torch.ops.aten.convolution_backward(
            grad, up, w_up, [weight.shape[0]] if ctx.has_bias else None,
            *conv_args, [need_x, need_w, need_b and ctx.has_bias])
        del up
        grad_skip, grad_w_skip, _ = torch.ops.aten.convolution_backward(
            grad, skip, weight[:, channels:], None, *conv_args,
            [need_skip, need_w, False])
        grad_x = grad_w = None
        if need_x:
            grad_x = torch.ops.aten.upsample_bilinear2d_backward(
                grad_up, list(skip.shape[-2:]), list(x.shape), True)
        if need_w:
            grad_w = torch.cat([grad_w_up, grad_w_skip], dim=1)
        return grad_x, grad_skip, grad_w, grad_b, None


def upsample_concat_conv(x: Tensor, skip: Tensor, weight: Tensor,
                         bias: Optional[Tensor], padding: int) -> Tensor:
    """:func:`upsample_concat_conv_reference` without the concatenation.

    Same arguments and result; the backward pass recomputes the upsampled
    input instead of keeping the concatenated tensor.
    """
    if weight.shape[1] != x.shape[1] + skip.shape[1]:
        raise ValueError(f'upsample_concat_conv: weight of shape '
                         f'{tuple(weight.shape)} for {x.shape[1]} + '
                         f'{skip.shape[1]} input channels')
    return _UpsampleConcatConv.apply(x, skip, weight, bias, padding)
