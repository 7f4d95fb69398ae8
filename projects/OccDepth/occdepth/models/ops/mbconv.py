"""EfficientNet's MBConv block keeping only the convolutions' raw outputs.

``efficientnet_pytorch``'s ``MBConvBlock.forward``
(efficientnet_pytorch/model.py) runs expand conv -> BN -> swish -> "SAME"
pad -> depthwise conv -> BN -> swish -> squeeze-excitation gate -> project
conv -> BN (-> drop connect -> skip). Autograd keeps, per block, the
expanded BN output (the swish's input), its padded copy (the depthwise
conv's input), the depthwise BN output, the swish output (the gate's and
the pooling's input) and the gated tensor (the project conv's input): five
expanded-width tensors besides the two convolution outputs.
:func:`mbconv_forward` runs the same operations on the block's own modules
and wraps each element-wise chain with the convolution after it in
:func:`recompute_prefix_conv`, so only the two convolution outputs are
kept and the chains are re-run in the backward pass; no convolution is
recomputed except the squeeze-excitation's 1x1 convolutions on the pooled
``(N, C, 1, 1)`` vector. Values, gradients and BN running statistics are
bitwise those of the package's forward (:func:`mbconv_forward_reference`).
"""
import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from efficientnet_pytorch.model import MBConvBlock
from efficientnet_pytorch.utils import (Conv2dDynamicSamePadding,
                                        Conv2dStaticSamePadding, drop_connect)
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from projects.OccDepth.occdepth.models.ops.recompute_conv import (
    batch_norm, recompute_prefix_conv)


def same_padding(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """The input padding of an efficientnet_pytorch "SAME" convolution.

    ``Conv2dDynamicSamePadding.forward`` and ``Conv2dStaticSamePadding.
    forward`` (efficientnet_pytorch/utils.py) without their ``F.conv2d``.
    """
    if isinstance(conv, Conv2dStaticSamePadding):
        return conv.static_padding(x)
    if not isinstance(conv, Conv2dDynamicSamePadding):
        raise TypeError(f'same_padding: expected an efficientnet_pytorch '
                        f'SAME-padding conv, got {type(conv).__name__}')
    ih, iw = x.size()[-2:]
    kh, kw = conv.weight.size()[-2:]
    sh, sw = conv.stride
    oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
    pad_h = max(
        (oh - 1) * conv.stride[0] + (kh - 1) * conv.dilation[0] + 1 - ih, 0)
    pad_w = max(
        (ow - 1) * conv.stride[1] + (kw - 1) * conv.dilation[1] + 1 - iw, 0)
    if pad_h > 0 or pad_w > 0:
        x = F.pad(
            x,
            [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
    return x


def _params(*modules: nn.Module) -> List[Tensor]:
    return [p for m in modules for p in m.parameters()]


def _prefix_conv(prefix, x: Tensor, params: List[Tensor],
                 conv: nn.Conv2d) -> Tensor:
    return recompute_prefix_conv(prefix, x, params, conv.weight, conv.bias,
                                 conv.stride, conv.padding, conv.dilation,
                                 conv.groups)


def mbconv_forward_reference(block: MBConvBlock,
                             inputs: Tensor,
                             drop_connect_rate: Optional[float] = None,
                             in_bn: Optional[_BatchNorm] = None,
                             in_act: Optional[nn.Module] = None) -> Tensor:
    """The package's forward: ``block(in_act(in_bn(inputs)), rate)``.

    Args:
        block: An ``efficientnet_pytorch`` MBConv block.
        inputs: The block's input or, with ``in_bn``, the output of the
            convolution before it (EfficientNet's stem conv).
        drop_connect_rate: As ``MBConvBlock.forward``'s.
        in_bn: BN still to apply to ``inputs`` (the stem's ``_bn0``).
        in_act: The activation after ``in_bn`` (the stem's swish).
    """
    if in_bn is not None:
        inputs = in_act(in_bn(inputs))
    return block(inputs, drop_connect_rate=drop_connect_rate)


def mbconv_forward(block: MBConvBlock,
                   inputs: Tensor,
                   drop_connect_rate: Optional[float] = None,
                   in_bn: Optional[_BatchNorm] = None,
                   in_act: Optional[nn.Module] = None) -> Tensor:
    """:func:`mbconv_forward_reference` keeping less for backward.

    The operations of ``MBConvBlock.forward`` (efficientnet_pytorch/
    model.py), in its order, on the block's modules; with ``in_bn`` the
    stem's BN -> swish joins the depthwise conv's chain.
    """
    args = block._block_args
    swish = block._swish
    input_filters, output_filters = args.input_filters, args.output_filters
    skip = (
        block.id_skip and args.stride == 1 and input_filters == output_filters)
    if in_bn is not None and (args.expand_ratio != 1 or skip):
        # the expand conv or the skip needs the activated input itself
        inputs = in_act(in_bn(inputs))
        in_bn = None
    x = inputs
    if args.expand_ratio != 1:
        x = block._expand_conv(inputs)
        in_bn, in_act = block._bn0, swish

    depthwise = block._depthwise_conv
    if in_bn is None:
        x = depthwise(x)
    else:

        def expanded(t: Tensor, recompute: bool) -> Tensor:
            return same_padding(depthwise,
                                in_act(batch_norm(in_bn, t, recompute)))

        x = _prefix_conv(expanded, x, _params(in_bn, in_act), depthwise)

    se = (block._se_reduce, block._se_expand) if block.has_se else ()

    def gated(t: Tensor, recompute: bool) -> Tensor:
        t = swish(batch_norm(block._bn1, t, recompute))
        if se:
            t_squeezed = F.adaptive_avg_pool2d(t, 1)
            t_squeezed = se[0](t_squeezed)
            t_squeezed = swish(t_squeezed)
            t_squeezed = se[1](t_squeezed)
            t = torch.sigmoid(t_squeezed) * t
        return same_padding(block._project_conv, t)

    x = _prefix_conv(gated, x, _params(block._bn1, swish, *se),
                     block._project_conv)
    x = block._bn2(x)

    if skip:
        if drop_connect_rate:
            x = drop_connect(x, p=drop_connect_rate, training=block.training)
        x = x + inputs
    return x
