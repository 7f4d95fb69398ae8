"""3D building blocks of the OccDepth / MonoScene UNet3D.

Sub-module names follow the reference implementation so that its
checkpoints map onto these modules by a plain prefix rename.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.ops.bn_act_conv import bn_act_conv
from projects.OccDepth.occdepth.models.ops.grad_recording import \
    records_fp32_graph
from projects.OccDepth.occdepth.models.ops.recompute_conv import (
    batch_norm, recompute_prefix_conv)

DILATIONS = (1, 2, 3)


class LayoutPreservingBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d that computes batch statistics in the contiguous layout.

    PyTorch's CPU batch-norm kernel for ``channels_last_3d`` tensors
    accumulates the batch statistics in another order and, at two million
    voxels, loses about 3e-4 relative precision in the output and gradients
    against a float64 reference (the contiguous kernel: 1e-7). When batch
    statistics are computed (training), this layer runs the contiguous kernel
    and hands the result back channels-last, so the convolutions around it
    keep their fast channels-last path. With running statistics (eval) the
    layer is a per-channel affine map, exact in any layout, and runs on the
    input as it is. Contiguous inputs always take the plain path; the state
    dict is that of :class:`torch.nn.BatchNorm3d`.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``(B, C, X, Y, Z)`` and keep its memory layout."""
        batch_stats = self.training or not self.track_running_stats
        if x.is_contiguous() or not batch_stats:
            return super().forward(x)
        out = super().forward(x.contiguous())
        return out.contiguous(memory_format=torch.channels_last_3d)


def _avgpool_conv_bn(kernel: Sequence[int], in_channels: int,
                     out_channels: int, bn_momentum: float) -> nn.Sequential:
    """``AvgPool3d(kernel, stride=kernel) -> 1x1x1 conv -> BN``."""
    return nn.Sequential(
        nn.AvgPool3d(kernel_size=tuple(kernel), stride=tuple(kernel)),
        nn.Conv3d(in_channels, out_channels, kernel_size=1, bias=False),
        nn.BatchNorm3d(out_channels, momentum=bn_momentum))


class Bottleneck3D(nn.Module):
    """DDR bottleneck: three factorised 1D convolutions with dense skips.

    ``conv2``/``conv3``/``conv4`` are 3-tap convolutions along the last,
    middle and first spatial axis. With ``stride > 1`` each of them strides
    its own axis, and the skip tensors are pooled to match by
    ``downsample2`` (middle axis) and ``downsample3``/``downsample4`` (first
    axis). These three skip branches exist only with ``stride > 1``. The
    authors' ``Bottleneck3D`` (DDR.py) builds them at stride 1 too, where
    they never run; ``models/utils/convert_reference.py`` drops those
    tensors of its checkpoints. Unused parameters would also make DDP search
    the autograd graph on every step (``find_unused_parameters=True``).

    Args:
        inplanes: Input channels.
        planes: Bottleneck channels; the output has ``planes * expansion``.
        stride: Stride applied to every spatial axis.
        dilation: Dilation of the conv along the last, middle and first axis.
        expansion: Output channel multiplier.
        downsample: Module applied to the input for the residual branch;
            ``None`` means identity (then ``inplanes`` must equal
            ``planes * expansion`` and ``stride`` must be 1).
        bn_momentum: Momentum of every BatchNorm3d.
    """

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 stride: int = 1,
                 dilation: Sequence[int] = (1, 1, 1),
                 expansion: int = 4,
                 downsample: Optional[nn.Module] = None,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        if downsample is None and (stride != 1
                                   or inplanes != planes * expansion):
            raise ValueError(
                'Bottleneck3D: an identity residual needs stride 1 and '
                f'inplanes == planes * expansion, got stride {stride}, '
                f'inplanes {inplanes}, planes {planes}, expansion '
                f'{expansion}')
        d0, d1, d2 = dilation
        self.stride = stride
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes, momentum=bn_momentum)
        self.conv2 = nn.Conv3d(
            planes,
            planes,
            kernel_size=(1, 1, 3),
            stride=(1, 1, stride),
            dilation=(1, 1, d0),
            padding=(0, 0, d0),
            bias=False)
        self.bn2 = nn.BatchNorm3d(planes, momentum=bn_momentum)
        self.conv3 = nn.Conv3d(
            planes,
            planes,
            kernel_size=(1, 3, 1),
            stride=(1, stride, 1),
            dilation=(1, d1, 1),
            padding=(0, d1, 0),
            bias=False)
        self.bn3 = nn.BatchNorm3d(planes, momentum=bn_momentum)
        self.conv4 = nn.Conv3d(
            planes,
            planes,
            kernel_size=(3, 1, 1),
            stride=(stride, 1, 1),
            dilation=(d2, 1, 1),
            padding=(d2, 0, 0),
            bias=False)
        self.bn4 = nn.BatchNorm3d(planes, momentum=bn_momentum)
        self.conv5 = nn.Conv3d(
            planes, planes * expansion, kernel_size=1, bias=False)
        self.bn5 = nn.BatchNorm3d(planes * expansion, momentum=bn_momentum)
        self.relu = nn.ReLU()
        if stride != 1:
            self.downsample2 = _avgpool_conv_bn((1, stride, 1), planes, planes,
                                                bn_momentum)
            self.downsample3 = _avgpool_conv_bn((stride, 1, 1), planes, planes,
                                                bn_momentum)
            self.downsample4 = _avgpool_conv_bn((stride, 1, 1), planes, planes,
                                                bn_momentum)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to ``(B, inplanes, X, Y, Z)``."""
        residual = x if self.downsample is None else self.downsample(x)
        out1 = self.relu(self.bn1(self.conv1(x)))
        out2 = self.bn2(self.conv2(out1))
        out3 = self.bn3(self.conv3(self.relu(out2)))
        if self.stride != 1:
            out2 = self.downsample2(out2)
        out3 = out3 + out2
        out4 = self.bn4(self.conv4(self.relu(out3)))
        if self.stride != 1:
            out2 = self.downsample3(out2)
            out3 = self.downsample4(out3)
        out4 = out4 + out2 + out3
        out5 = self.bn5(self.conv5(self.relu(out4)))
        return self.relu(out5 + residual)


class Process(nn.Module):
    """A chain of channel-preserving :class:`Bottleneck3D` blocks.

    Args:
        channels: Input and output channels (a multiple of 4).
        dilations: One block per entry, with that dilation on every axis.
        bn_momentum: BatchNorm3d momentum.
    """

    def __init__(self,
                 channels: int,
                 dilations: Sequence[int] = DILATIONS,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError(
                f'Process: channels must be a multiple of 4, got {channels}')
        self.main = nn.Sequential(*[
            Bottleneck3D(
                channels,
                channels // 4,
                dilation=(d, d, d),
                expansion=4,
                bn_momentum=bn_momentum) for d in dilations
        ])

    def forward(self, x: Tensor) -> Tensor:
        """Apply the blocks in order."""
        return self.main(x)


class Downsample(nn.Module):
    """Strided :class:`Bottleneck3D` that doubles channels, halves axes.

    Args:
        channels: Input channels ``F`` (a multiple of 4); output ``2F``.
        bn_momentum: BatchNorm3d momentum.
    """

    def __init__(self, channels: int, bn_momentum: float = 0.1) -> None:
        super().__init__()
        if channels % 4:
            raise ValueError('Downsample: channels must be a multiple of 4, '
                             f'got {channels}')
        residual = nn.Sequential(
            nn.AvgPool3d(kernel_size=2, stride=2),
            nn.Conv3d(channels, channels * 2, kernel_size=1, bias=False),
            nn.BatchNorm3d(channels * 2, momentum=bn_momentum))
        self.main = Bottleneck3D(
            channels,
            channels // 4,
            stride=2,
            expansion=8,
            downsample=residual,
            bn_momentum=bn_momentum)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, F, X, Y, Z) -> (B, 2F, X/2, Y/2, Z/2)``."""
        return self.main(x)


class Upsample(nn.Module):
    """Transposed 3x3x3 conv -> BN -> ReLU.

    With ``stride=2`` (and ``output_padding=1``) every axis doubles; with
    ``stride=1`` the size is kept (the reference's ``Convblock``).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: 2 to upsample, 1 to keep the size.
        bn_momentum: BatchNorm3d momentum.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 2,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'Upsample: stride must be 1 or 2, got {stride}')
        self.main = nn.Sequential(
            nn.ConvTranspose3d(
                in_channels,
                out_channels,
                kernel_size=3,
                stride=stride,
                padding=1,
                output_padding=stride - 1),
            LayoutPreservingBatchNorm3d(out_channels, momentum=bn_momentum),
            nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        return self.main(x)

    def forward_into(self, conv: nn.Conv3d, x: Tensor) -> Tensor:
        """``conv(self(x))`` keeping, of the block, only the transposed
        convolution's output for the backward pass.

        BN -> ReLU and ``conv`` run as :func:`recompute_prefix_conv`: the
        backward pass recomputes BN -> ReLU from the saved transposed
        convolution output (same kernels, same numbers) instead of keeping
        the BN input and the ReLU output.
        """
        conv_t, bn, relu = self.main

        def bn_relu(t: Tensor, recompute: bool) -> Tensor:
            return relu(batch_norm(bn, t, recompute))

        return recompute_prefix_conv(bn_relu, conv_t(x), list(bn.parameters()),
                                     conv.weight, conv.bias, conv.stride,
                                     conv.padding, conv.dilation, conv.groups)


class ASPP3D(nn.Module):
    """Residual 3D atrous spatial pyramid (MonoScene ``ASPP``).

    ``out = ReLU(x + sum_d BN2_d(Conv_d(ReLU(BN1_d(Conv_d(x))))))`` with
    bias-free 3x3x3 convolutions of dilation ``d``. Its BN layers use
    PyTorch's default momentum (0.1), as in the reference.

    Args:
        channels: Input and output channels.
        dilations: Dilation of each branch.
    """

    def __init__(self,
                 channels: int,
                 dilations: Sequence[int] = DILATIONS) -> None:
        super().__init__()
        if not dilations:
            raise ValueError('ASPP3D: at least one dilation is needed')
        self.conv1 = nn.ModuleList([
            nn.Conv3d(
                channels,
                channels,
                kernel_size=3,
                padding=d,
                dilation=d,
                bias=False) for d in dilations
        ])
        self.bn1 = nn.ModuleList(
            [LayoutPreservingBatchNorm3d(channels) for _ in dilations])
        self.conv2 = nn.ModuleList([
            nn.Conv3d(
                channels,
                channels,
                kernel_size=3,
                padding=d,
                dilation=d,
                bias=False) for d in dilations
        ])
        self.bn2 = nn.ModuleList(
            [LayoutPreservingBatchNorm3d(channels) for _ in dilations])
        # In place: every input it sees is a fresh BN, conv or sum output.
        self.relu = nn.ReLU(inplace=True)

    def aspp(self, x: Tensor) -> Tensor:
        """The residual pyramid on ``(B, channels, X, Y, Z)``.

        While gradients are recorded with batch statistics (in fp32, outside
        autocast), each branch's ``conv2(relu(bn1(.)))`` runs as
        :func:`bn_act_conv`, which keeps one tensor instead of two for the
        backward pass (384 MiB less for the KITTI head at 256x256x32 with 16
        channels).
        """
        fused = (
            records_fp32_graph(x) and self.bn1[0].training
            and self.bn1[0].track_running_stats)
        y = x
        for conv1, bn1, conv2, bn2 in zip(self.conv1, self.bn1, self.conv2,
                                          self.bn2):
            if fused:
                y = y + bn2(bn_act_conv(conv1(x), bn1, 0.0, conv2))
            else:
                y = y + bn2(conv2(self.relu(bn1(conv1(x)))))
        return self.relu(y)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the residual pyramid."""
        return self.aspp(x)


class SegmentationHead(ASPP3D):
    """``ReLU(conv0) -> ASPP3D -> conv_classes`` (MonoScene head).

    The ASPP layers live on the head itself (``conv1``, ``bn1``, ``conv2``,
    ``bn2``), as in the reference state dict.

    Args:
        in_channels: Input channels.
        planes: Channels after ``conv0`` (and through the ASPP).
        num_classes: Output classes.
        dilations: ASPP dilations.
    """

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 num_classes: int,
                 dilations: Sequence[int] = DILATIONS) -> None:
        super().__init__(planes, dilations)
        self.conv0 = nn.Conv3d(in_channels, planes, kernel_size=3, padding=1)
        self.conv_classes = nn.Conv3d(
            planes, num_classes, kernel_size=3, padding=1)

    def forward(self, x: Tensor, up: Optional[Upsample] = None) -> Tensor:
        """``(B, in, X, Y, Z) -> (B, num_classes, X, Y, Z)`` logits.

        With ``up``, ``x`` is the input of that block, run first through
        :meth:`Upsample.forward_into` ``conv0``.
        """
        x = self.conv0(x) if up is None else up.forward_into(self.conv0, x)
        x = self.aspp(self.relu(x))
        return self.conv_classes(x)


class SegmentationHeadCascade(ASPP3D):
    """Decoupled occupancy -> semantics head ("cascade CLS").

    After ``conv0`` and the ASPP, ``occ_classes`` predicts empty/occupied
    logits; their softmax is concatenated after the features and
    ``conv_classes`` predicts the semantic logits from ``planes + 2``
    channels. The concatenation is not materialised: ``conv_classes`` is
    applied as the sum of its feature part and its probability part, which
    keeps a ``planes + 2`` channel copy of the output volume out of the
    tensors saved for the backward pass (151 MB at 256x256x32, 16 planes).

    Args:
        in_channels: Input channels.
        planes: Channels after ``conv0`` (and through the ASPP).
        num_classes: Semantic classes.
        dilations: ASPP dilations.
    """

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 num_classes: int,
                 dilations: Sequence[int] = DILATIONS) -> None:
        super().__init__(planes, dilations)
        self.conv0 = nn.Conv3d(in_channels, planes, kernel_size=3, padding=1)
        self.occ_classes = nn.Conv3d(planes, 2, kernel_size=3, padding=1)
        self.conv_classes = nn.Conv3d(
            planes + 2, num_classes, kernel_size=3, padding=1)

    def forward(self,
                x: Tensor,
                up: Optional[Upsample] = None) -> Tuple[Tensor, Tensor]:
        """Return ``(ssc_logits (B,N,X,Y,Z), occ_logits (B,2,X,Y,Z))``.

        With ``up``, ``x`` is the input of that block, run first through
        :meth:`Upsample.forward_into` ``conv0``.
        """
        x = self.conv0(x) if up is None else up.forward_into(self.conv0, x)
        x = self.aspp(self.relu(x))
        occ_logits = self.occ_classes(x)
        occ_prob = occ_logits.softmax(dim=1)
        # conv_classes(cat([x, occ_prob])) without the concatenated copy
        conv = self.conv_classes
        planes = x.shape[1]
        ssc_logits = conv._conv_forward(x, conv.weight[:, :planes], conv.bias)
        ssc_logits = ssc_logits + conv._conv_forward(
            occ_prob, conv.weight[:, planes:], None)
        return ssc_logits, occ_logits
