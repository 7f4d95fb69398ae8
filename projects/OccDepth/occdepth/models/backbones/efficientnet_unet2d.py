"""EfficientNet encoder + UNet decoder shared by all camera views.

The decoder is the AdaBins-style ``DecoderBN`` used by MonoScene and OccDepth
(docs/reference-notes.md, 2D backbone); the encoder is
``efficientnet_pytorch``'s EfficientNet with TF "SAME" padding computed from
the input size.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from efficientnet_pytorch.utils import (get_model_params, round_filters,
                                        round_repeats)
from mmdet3d.registry import MODELS
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.ops.bn_act_conv import bn_act_conv
from projects.OccDepth.occdepth.models.ops.grad_recording import \
    records_fp32_graph
from projects.OccDepth.occdepth.models.ops.mbconv import mbconv_forward
from projects.OccDepth.occdepth.models.ops.upsample_concat_conv import \
    upsample_concat_conv
from projects.OccDepth.occdepth.models.utils.activation_checkpoint import \
    checkpoint_module
from projects.OccDepth.occdepth.models.utils.memory_format import (
    ChannelsLast, check_channels_last, use_channels_last)

ARCHS = ('b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7')
SCALES = (1, 2, 4, 8, 16)
# Encoder stages whose last block feeds the decoder (strides 2, 4, 8, 16).
TAP_STAGES = (0, 1, 2, 4)
# Modules of efficientnet_pytorch's EfficientNet that the UNet never runs
# (classifier and the BN after the head conv); their keys are skipped when
# loading encoder weights.
UNUSED_ENCODER_KEYS = ('_fc.', '_bn1.')

# geffnet / timm EfficientNet names -> efficientnet_pytorch names per block
# kind (stage 0: depthwise-separable; other stages: inverted residual).
_GEFFNET_DS = {
    'conv_dw': '_depthwise_conv',
    'bn1': '_bn1',
    'se.conv_reduce': '_se_reduce',
    'se.conv_expand': '_se_expand',
    'conv_pw': '_project_conv',
    'bn2': '_bn2'
}
_GEFFNET_IR = {
    'conv_pw': '_expand_conv',
    'bn1': '_bn0',
    'conv_dw': '_depthwise_conv',
    'bn2': '_bn1',
    'se.conv_reduce': '_se_reduce',
    'se.conv_expand': '_se_expand',
    'conv_pwl': '_project_conv',
    'bn3': '_bn2'
}
_GEFFNET_TOP = {
    'conv_stem': '_conv_stem',
    'bn1': '_bn0',
    'conv_head': '_conv_head'
}


def convert_reference_unet2d(state: Dict[str, Tensor],
                             arch: str) -> Dict[str, Tensor]:
    """Rename the reference's ``net_rgb`` weights for EfficientNetUNet2D.

    The reference UNet2D holds a geffnet ``tf_efficientnet_<arch>_ns``
    encoder (same tensors as efficientnet_pytorch, other names, blocks
    grouped by stage) and a decoder ``conv2`` / ``up<s>._net`` /
    ``resize_output_1_<s>`` (docs/reference-notes.md, Checkpoint keys). The
    head BN ``bn2``, which the UNet never runs, is dropped.

    Args:
        state: Weights with the ``net_rgb.`` prefix removed, i.e. keys
            ``encoder.original_model.*`` and ``decoder.*``.
        arch: ``'b0'`` ... ``'b7'``.

    Returns:
        dict: The same tensors under EfficientNetUNet2D's names. Decoder
        stages and output convs of scales the target backbone does not build
        (such as ``out_convs.1_16``) are left for the caller to drop.
    """
    if arch not in ARCHS:
        raise ValueError(f'convert_reference_unet2d: arch must be one of '
                         f'{ARCHS}, got {arch!r}')
    args, params = get_model_params(f'efficientnet-{arch}', None)
    starts = [0]
    for block_args in args:
        starts.append(starts[-1] +
                      round_repeats(block_args.num_repeat, params))
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith('encoder.original_model.'):
            name = key[len('encoder.original_model.'):]
            head, _, tail = name.partition('.')
            if head == 'bn2':
                continue
            if head == 'blocks':
                stage, index, rest = tail.split('.', 2)
                module, _, leaf = rest.rpartition('.')
                names = _GEFFNET_DS if stage == '0' else _GEFFNET_IR
                block = starts[int(stage)] + int(index)
                new = f'encoder._blocks.{block}.{names[module]}.{leaf}'
            elif head in _GEFFNET_TOP:
                new = f'encoder.{_GEFFNET_TOP[head]}.{tail}'
            else:
                raise ValueError(f'convert_reference_unet2d: unknown encoder '
                                 f'key {key!r}')
        elif key.startswith('decoder.conv2.'):
            new = 'bottleneck.' + key[len('decoder.conv2.'):]
        elif key.startswith('decoder.up'):
            new = key[len('decoder.'):].replace('._net.', '.layers.')
        elif key.startswith('decoder.resize_output_'):
            scale, _, leaf = key[len('decoder.resize_output_'):].partition('.')
            new = f'out_convs.{scale}.{leaf}'
        else:
            raise ValueError(f'convert_reference_unet2d: unknown key {key!r}')
        out[new] = value
    return out


class UpSampleBN(nn.Module):
    """Upsample to the skip's size, concatenate, two conv-BN-LeakyReLU.

    Memory of the training step: while gradients are recorded (in fp32,
    outside autocast), the first
    convolution runs as :func:`upsample_concat_conv`, which keeps the small
    input instead of the full-size concatenation for the backward pass; the
    first BN -> LeakyReLU -> conv runs as :func:`bn_act_conv` (one tensor
    kept instead of two) with batch statistics, and the LeakyReLUs work in
    place (their backward reads the sign of the output, which is that of
    the input), so no BN output is kept beside an activation.

    Args:
        in_channels: Channels of the upsampled input plus the skip.
        out_channels: Output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels), nn.LeakyReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels), nn.LeakyReLU(inplace=True))

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        conv = self.layers[0]
        if (records_fp32_graph(x)
                and any(t.requires_grad for t in (x, skip, conv.weight))):
            out = upsample_concat_conv(x, skip, conv.weight, conv.bias,
                                       conv.padding[0])
            bn = self.layers[1]
            if bn.training and bn.track_running_stats:
                out = bn_act_conv(out, bn, self.layers[2].negative_slope,
                                  self.layers[3])
                return self.layers[5](self.layers[4](out))
            return self.layers[1:](out)
        x = F.interpolate(
            x, size=skip.shape[-2:], mode='bilinear', align_corners=True)
        return self.layers(torch.cat([x, skip], dim=1))


@MODELS.register_module()
class EfficientNetUNet2D(BaseModule):
    """2D UNet on an EfficientNet encoder, run on every camera view.

    Encoder taps (docs/reference-notes.md, 2D backbone): the input image, the
    outputs of the last block of stages 0, 1, 2 and 4 (strides 2, 4, 8, 16)
    and the head 1x1 conv output before its BN (stride 32, ``F`` channels).
    The decoder applies a 1x1 conv ``F -> F`` with ``padding=1`` (the
    authors' quirk, ``occdepth/models/unet2d.py: DecoderBN``, that grows
    the bottleneck by one bias-only pixel per side), then five
    :class:`UpSampleBN` stages ``F -> F/2 -> F/4 -> F/8 -> F/16 -> F/32`` at
    strides 16, 8, 4, 2 and 1, each followed for the requested scales by a
    1x1 conv to ``out_channels``. Stages finer than ``min(out_scales)`` are
    not built. Scale ``s`` maps are ``ceil(H / s)`` x ``ceil(W / s)``.

    BN layers of the encoder use eps 1e-3 and momentum 0.1, like the
    reference's ``tf_efficientnet`` models.

    Views: view 0 runs with gradients. With ``share_gradient=True`` the views
    ``>= 1`` run through the same weights under ``torch.no_grad()``
    (reference ``share_2d_backbone_gradient``); otherwise with gradients. In
    training the other views run as one batch separate from view 0, so that
    for stereo the BN batch statistics are those of the reference (one call
    per view); in eval mode without gradients to separate, all views run as
    one batch.

    Args:
        arch: EfficientNet variant, ``'b0'`` ... ``'b7'``.
        out_channels: Channels of every output map.
        out_scales: Strides of the returned maps, a subset of
            ``(1, 2, 4, 8, 16)``, returned in this order.
        share_gradient: Run views ``>= 1`` without gradients.
        drop_connect_rate: Stochastic depth of the encoder blocks, scaled
            linearly with block index as in ``efficientnet_pytorch``
            (0 in the reference).
        with_cp: Checkpoint every encoder block and decoder stage to save
            activation memory where gradients are needed (BN running
            statistics are updated once, as without checkpointing).
        channels_last: In eval mode, run the views on channels-last images,
            the fast path of the CPU (oneDNN) convolutions; eval-mode BN is
            a per-channel affine map, exact in any layout. The returned maps
            are then channels-last. Training keeps the contiguous layout:
            channels-last BN statistics lose precision (2.6e-5 relative at
            370x1220) and the step was measured no faster. ``'auto'``: per
            device (CPU: on; CUDA: under fp16 / bf16 autocast only), see
            models/utils/memory_format.py.
        init_cfg: mmengine init config. ``dict(type='Pretrained',
            checkpoint=PATH_OR_URL)`` loads an ``efficientnet_pytorch``
            ``EfficientNet.state_dict()`` (optionally under ``'state_dict'``)
            into the encoder, such as the output of
            ``tools/convert_backbone.py`` for timm / geffnet weights; with a
            ``prefix`` key, mmengine's standard prefixed loading into the
            whole backbone is used instead.
    """

    def __init__(self,
                 arch: str = 'b3',
                 out_channels: int = 32,
                 out_scales: Sequence[int] = (1, 2, 4, 8),
                 share_gradient: bool = True,
                 drop_connect_rate: float = 0.0,
                 with_cp: bool = False,
                 channels_last: ChannelsLast = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCHS:
            raise ValueError(f'EfficientNetUNet2D: arch must be one of '
                             f'{ARCHS}, got {arch!r}')
        if not out_scales or any(s not in SCALES for s in out_scales):
            raise ValueError(f'EfficientNetUNet2D: out_scales must be a '
                             f'subset of {SCALES}, got {out_scales}')
        self.arch = arch
        self.out_scales = tuple(out_scales)
        self.share_gradient = share_gradient
        self.drop_connect_rate = drop_connect_rate
        self.with_cp = with_cp
        self.channels_last = check_channels_last(channels_last,
                                                 'EfficientNetUNet2D')

        # image_size=None selects dynamic "SAME" padding (any input size).
        encoder = EfficientNet.from_name(
            f'efficientnet-{arch}',
            image_size=None,
            include_top=False,
            drop_connect_rate=drop_connect_rate)
        del encoder._bn1
        for module in encoder.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1
        self.encoder = encoder
        params = encoder._global_params
        stage_args = encoder._blocks_args
        ends, total = [], 0
        for args in stage_args:
            total += round_repeats(args.num_repeat, params)
            ends.append(total - 1)
        self.tap_blocks = tuple(ends[i] for i in TAP_STAGES)
        skip_channels = [3] + [
            round_filters(stage_args[i].output_filters, params)
            for i in TAP_STAGES
        ]
        num_features = encoder._conv_head.out_channels
        self.num_features = num_features

        self.bottleneck = nn.Conv2d(
            num_features, num_features, kernel_size=1, padding=1)
        # Decoder stages from stride 16 to stride 1; the skip of stride s is
        # skip_channels[log2(s)].
        self.decoder_scales = tuple(
            s for s in (16, 8, 4, 2, 1) if s >= min(self.out_scales))
        in_ch = num_features
        channels = {}
        for scale in self.decoder_scales:
            out_ch = in_ch // 2
            skip = skip_channels[scale.bit_length() - 1]
            self.add_module(f'up{scale}', UpSampleBN(in_ch + skip, out_ch))
            channels[scale] = out_ch
            in_ch = out_ch
        self.out_convs = nn.ModuleDict()
        for scale in self.out_scales:
            self.out_convs[f'1_{scale}'] = nn.Conv2d(channels[scale],
                                                     out_channels, 1)

    def init_weights(self) -> None:
        """Load the encoder checkpoint of ``init_cfg``, else mmengine's."""
        cfg = self.init_cfg
        if (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
                and 'prefix' not in cfg):
            self.load_encoder_weights(cfg['checkpoint'])
            self._is_init = True
        else:
            super().init_weights()

    def load_encoder_weights(self, checkpoint: str) -> None:
        """Load an ``efficientnet_pytorch`` state dict into the encoder.

        Keys of the classifier and of the unused head BN are skipped; every
        encoder parameter and buffer must be present.

        Args:
            checkpoint: Local path or URL of a ``.pth`` file holding
                ``EfficientNet.state_dict()``, or a dict with that under
                ``'state_dict'``.
        """
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'EfficientNetUNet2D: init_cfg checkpoint {checkpoint} not '
                'found. Convert the timm / geffnet tf_efficientnet weights '
                'with tools/convert_backbone.py SRC ' + checkpoint +
                ', or set model.backbone.init_cfg=None to start the encoder '
                'from random weights.')
        ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
        state = ckpt
        if isinstance(ckpt, dict) and 'state_dict' in ckpt:
            state = ckpt['state_dict']
        if not isinstance(state, dict):
            raise ValueError(f'{checkpoint}: expected a state dict, got '
                             f'{type(ckpt).__name__}')
        state = OrderedDict(
            (k[len('module.'):] if k.startswith('module.') else k, v)
            for k, v in state.items())
        state = OrderedDict((k, v) for k, v in state.items()
                            if not k.startswith(UNUSED_ENCODER_KEYS))
        expected = self.encoder.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(
            k for k in set(expected) & set(state)
            if tuple(state[k].shape) != tuple(expected[k].shape))
        if missing or unexpected or wrong:
            raise ValueError(
                f'{checkpoint}: not an efficientnet-{self.arch} state dict '
                f'of efficientnet_pytorch; missing {missing[:5]}, '
                f'unexpected {unexpected[:5]}, wrong shape {wrong[:5]} '
                f'({len(missing)}/{len(unexpected)}/{len(wrong)} in all)')
        self.encoder.load_state_dict(state, strict=True)
        print_log(
            f'EfficientNetUNet2D: loaded efficientnet-{self.arch} '
            f'encoder weights from {checkpoint}',
            logger='current')

    def _run(self, module: nn.Module, *args: Tensor) -> Tensor:
        if self.with_cp and any(a.requires_grad for a in args):
            return checkpoint_module(module, *args)
        return module(*args)

    def encode(self, x: Tensor) -> List[Tensor]:
        """Encoder taps: image, strides 2, 4, 8, 16 and the head conv.

        While gradients are recorded (in fp32, outside autocast, without
        ``with_cp``) the blocks run as :func:`mbconv_forward`: the package's
        operations, keeping for the backward pass only each block's
        convolution outputs and recomputing the BN -> swish (-> padding,
        squeeze-excitation gate) between them, the stem's BN -> swish with
        block 0; the same numbers as the package's forward.
        """
        enc = self.encoder
        taps = [x]
        recompute = (not self.with_cp and records_fp32_graph(x)
                     and (x.requires_grad or any(p.requires_grad
                                                 for p in enc.parameters())))
        x = enc._conv_stem(x)
        if not recompute:
            x = enc._swish(enc._bn0(x))
        num_blocks = len(enc._blocks)
        for idx, block in enumerate(enc._blocks):
            rate = self.drop_connect_rate * idx / num_blocks
            if recompute:
                # the stem's BN -> swish joins block 0's depthwise conv
                stem = (enc._bn0, enc._swish) if idx == 0 else (None, None)
                x = mbconv_forward(block, x, rate or None, *stem)
            elif self.with_cp and x.requires_grad:
                x = checkpoint_module(block, x, rate or None)
            else:
                x = block(x, drop_connect_rate=rate or None)
            if idx in self.tap_blocks:
                taps.append(x)
        taps.append(enc._conv_head(x))
        return taps

    def decode(self, taps: List[Tensor]) -> Dict[int, Tensor]:
        """Decoder maps of every requested scale, keyed by stride."""
        x = self.bottleneck(taps[-1])
        outs = {}
        for scale in self.decoder_scales:
            x = self._run(
                getattr(self, f'up{scale}'), x, taps[scale.bit_length() - 1])
            if scale in self.out_scales:
                outs[scale] = self.out_convs[f'1_{scale}'](x)
        return outs

    def _forward_views(self, imgs: Tensor) -> List[Tensor]:
        """``(N, 3, H, W)`` -> one ``(N, C, h_s, w_s)`` per out scale."""
        # ONNX has no memory formats: a traced graph keeps the layout as is
        if (use_channels_last(self.channels_last, imgs, 2)
                and not self.training and not torch.jit.is_tracing()):
            imgs = imgs.contiguous(memory_format=torch.channels_last)
        outs = self.decode(self.encode(imgs))
        return [outs[s] for s in self.out_scales]

    def forward(self, imgs: Tensor) -> List[Tensor]:
        """Features of every view.

        Args:
            imgs: ``(B, V, 3, H, W)`` normalised images.

        Returns:
            list[Tensor]: one ``(B, V, C, ceil(H / s), ceil(W / s))`` map per
            entry of ``out_scales``.
        """
        if imgs.dim() != 5 or imgs.shape[2] != 3:
            raise ValueError(f'EfficientNetUNet2D: imgs must be (B, V, 3, H, '
                             f'W), got {tuple(imgs.shape)}')
        b, v = imgs.shape[:2]
        split = self.training or (self.share_gradient
                                  and torch.is_grad_enabled())
        if v == 1 or not split:
            feats = self._forward_views(imgs.flatten(0, 1))
            return [f.unflatten(0, (b, v)) for f in feats]
        first = self._forward_views(imgs[:, 0])
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.share_gradient):
            others = self._forward_views(imgs[:, 1:].flatten(0, 1))
        return [
            torch.cat(
                [f.unsqueeze(1), o.unflatten(0, (b, v - 1))], dim=1)
            for f, o in zip(first, others)
        ]
