"""Map timm / geffnet EfficientNet weights onto EfficientNetUNet2D's encoder.

The authors start the 2D UNet from geffnet's NoisyStudent models
``tf_efficientnet_b{3,7}_ns`` (authors' repository, occdepth/models/unet2d.py,
``UNet2D.build``: torch.hub ``rwightman/gen-efficientnet-pytorch``); timm
ships the same tensors as ``tf_efficientnet_b{0..7}.ns_jft_in1k`` (``.pth``
or ``.safetensors``). Both libraries use one key layout: ``conv_stem``,
``bn1``, ``blocks.<stage>.<index>.*`` (the depthwise-separable block of stage
0: ``conv_dw, bn1, se, conv_pw, bn2``; the inverted residual blocks:
``conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3``), ``conv_head``, ``bn2``
and ``classifier``. EfficientNetUNet2D's encoder is efficientnet_pytorch's
``EfficientNet`` (blocks numbered across stages, ``_conv_stem``, ``_bn0``,
``_conv_head``), whose TF "SAME" padding and BN eps 1e-3 are those of the
TF-ported models, so the renamed tensors give the same encoder outputs.

Every source tensor must land in the encoder except two, dropped with a
reason: the ImageNet ``classifier`` and the head BN ``bn2`` (the UNet taps the
head conv before it; :data:`UNUSED_ENCODER_KEYS` of the backbone).
"""
import json
import os
import pickle
import struct
from collections import OrderedDict
from typing import Dict, List, Mapping, NamedTuple

import torch
from efficientnet_pytorch import EfficientNet
from efficientnet_pytorch.utils import get_model_params, round_repeats
from torch import Tensor

from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import (
    _GEFFNET_DS, _GEFFNET_IR, _GEFFNET_TOP, ARCHS, UNUSED_ENCODER_KEYS)

DROP_REASONS = {
    'classifier.':
    'ImageNet classifier, not part of the UNet encoder',
    'bn2.':
    'encoder head BN, not run by the UNet (it taps the head conv '
    'before this BN)',
}
# safetensors dtype names -> torch dtypes (the format's specification,
# https://github.com/huggingface/safetensors, "Format").
SAFETENSORS_DTYPES = {
    'F64': torch.float64,
    'F32': torch.float32,
    'F16': torch.float16,
    'BF16': torch.bfloat16,
    'I64': torch.int64,
    'I32': torch.int32,
    'I16': torch.int16,
    'I8': torch.int8,
    'U8': torch.uint8,
    'BOOL': torch.bool,
}
_NUM_BATCHES = '.num_batches_tracked'


class ConvertedBackbone(NamedTuple):
    """Result of :func:`convert_efficientnet`.

    Attributes:
        state_dict: The mapped tensors under efficientnet_pytorch's names.
        dropped: Source keys deliberately left out, with the reason.
        unmapped: Source keys with no counterpart in the encoder.
        filled: ``num_batches_tracked`` buffers the source does not hold,
            written as 0 (what BatchNorm itself loads in their place).
    """
    state_dict: 'OrderedDict[str, Tensor]'
    dropped: Dict[str, str]
    unmapped: List[str]
    filled: List[str]


def read_safetensors(path: str) -> Dict[str, Tensor]:
    """Read a ``.safetensors`` file: an 8-byte little-endian header length,
    a JSON header ``{name: {dtype, shape, data_offsets}}`` (plus an optional
    ``__metadata__``) and the raw little-endian tensor buffer.

    Args:
        path: The file.

    Returns:
        dict: name -> tensor, in the header's order.
    """
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f'{path}: too short for a safetensors file')
    (size, ) = struct.unpack('<Q', data[:8])
    if 8 + size > len(data):
        raise ValueError(f'{path}: header length {size} exceeds the file '
                         f'({len(data)} bytes)')
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f'{path}: unreadable safetensors header '
                         f'({exc})') from exc
    if not isinstance(header, dict):
        raise ValueError(f'{path}: the safetensors header is not an object')
    buffer = memoryview(data)[8 + size:]
    out = OrderedDict()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        try:
            dtype = SAFETENSORS_DTYPES[info['dtype']]
            shape = [int(n) for n in info['shape']]
            begin, end = (int(n) for n in info['data_offsets'])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f'{path}: tensor {name!r}: bad header entry '
                             f'{info!r} ({exc!r})') from exc
        numel = 1
        for n in shape:
            numel *= n
        nbytes = numel * torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(buffer) or end - begin != nbytes:
            raise ValueError(
                f'{path}: tensor {name!r}: offsets {[begin, end]} do not '
                f'hold {info["dtype"]} {shape} in a {len(buffer)}-byte '
                'buffer')
        if numel == 0:
            out[name] = torch.empty(shape, dtype=dtype)
        else:
            out[name] = torch.frombuffer(
                bytearray(buffer[begin:end]), dtype=dtype).reshape(shape)
    return out


def read_source_checkpoint(path: str) -> Dict[str, Tensor]:
    """Read a timm / geffnet EfficientNet checkpoint.

    ``.safetensors`` files are read with :func:`read_safetensors`; other
    files with ``torch.load(weights_only=True)``. A top-level
    ``'state_dict'`` entry (timm training checkpoints) is unwrapped.

    Args:
        path: The checkpoint file.

    Returns:
        dict: name -> tensor.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    if path.endswith('.safetensors'):
        state = read_safetensors(path)
    else:
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            raise ValueError(f'{path}: not a readable torch checkpoint '
                             f'({exc})') from exc
        if isinstance(state, dict) and 'state_dict' in state:
            state = state['state_dict']
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{path}: expected a non-empty state dict')
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise ValueError(f'{path}: entries that are not tensors: {bad[:5]}')
    return dict(state)


def encoder_shapes(arch: str) -> Dict[str, torch.Size]:
    """Keys and shapes of EfficientNetUNet2D's encoder of ``arch``.

    Built on the meta device (no memory, no initialisation cost).
    """
    if arch not in ARCHS:
        raise ValueError(f'encoder_shapes: arch must be one of {ARCHS}, got '
                         f'{arch!r}')
    with torch.device('meta'):
        encoder = EfficientNet.from_name(
            f'efficientnet-{arch}', image_size=None, include_top=False)
    return {
        key: value.shape
        for key, value in encoder.state_dict().items()
        if not key.startswith(UNUSED_ENCODER_KEYS)
    }


def _stage_starts(arch: str) -> List[int]:
    """Index of the first block of every stage, and the block count."""
    args, params = get_model_params(f'efficientnet-{arch}', None)
    starts = [0]
    for block_args in args:
        starts.append(starts[-1] +
                      round_repeats(block_args.num_repeat, params))
    return starts


def map_key(key: str, starts: List[int]) -> str:
    """timm / geffnet name -> efficientnet_pytorch name; '' if unknown.

    Args:
        key: Source key, e.g. ``'blocks.1.0.conv_pwl.weight'``.
        starts: :func:`_stage_starts` of the target arch.
    """
    head, _, tail = key.partition('.')
    if head == 'blocks':
        parts = tail.split('.', 2)
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            return ''
        stage, index = int(parts[0]), int(parts[1])
        module, _, leaf = parts[2].rpartition('.')
        names = _GEFFNET_DS if stage == 0 else _GEFFNET_IR
        if (stage >= len(starts) - 1
                or index >= starts[stage + 1] - starts[stage]
                or module not in names):
            return ''
        return f'_blocks.{starts[stage] + index}.{names[module]}.{leaf}'
    if head in _GEFFNET_TOP and tail:
        return f'{_GEFFNET_TOP[head]}.{tail}'
    return ''


def convert_efficientnet(state: Mapping[str, Tensor],
                         arch: str) -> ConvertedBackbone:
    """Rename timm / geffnet EfficientNet weights for EfficientNetUNet2D.

    Args:
        state: The source state dict.
        arch: ``'b0'`` ... ``'b7'``.

    Returns:
        ConvertedBackbone: mapped tensors (efficientnet_pytorch names, the
        encoder's keys), dropped, unmapped and filled keys. Shapes are not
        checked here: see :func:`check_shapes`.
    """
    if arch not in ARCHS:
        raise ValueError(f'convert_efficientnet: arch must be one of '
                         f'{ARCHS}, got {arch!r}')
    starts = _stage_starts(arch)
    out = OrderedDict()
    dropped, unmapped = {}, []
    for key, value in state.items():
        prefix = next((p for p in DROP_REASONS if key.startswith(p)), None)
        if prefix is not None:
            dropped[key] = DROP_REASONS[prefix]
            continue
        new = map_key(key, starts)
        if not new:
            unmapped.append(key)
        elif new in out:
            raise ValueError(f'convert_efficientnet: two source keys map to '
                             f'{new!r} (the second is {key!r})')
        else:
            out[new] = value
    filled = []
    for key in encoder_shapes(arch):
        if key.endswith(_NUM_BATCHES) and key not in out:
            out[key] = torch.tensor(0, dtype=torch.long)
            filled.append(key)
    return ConvertedBackbone(out, dropped, unmapped, filled)


def check_shapes(state: Mapping[str, Tensor], arch: str) -> List[str]:
    """Differences between ``state`` and the encoder of ``arch``.

    Returns:
        list[str]: one line per missing key, unexpected key and shape
        mismatch; empty if ``state`` loads strictly.
    """
    expected = encoder_shapes(arch)
    errors = [f'missing {k}' for k in expected if k not in state]
    errors += [f'unexpected {k}' for k in state if k not in expected]
    errors += [
        f'{k}: shape {tuple(state[k].shape)}, the encoder has '
        f'{tuple(expected[k])}' for k in state
        if k in expected and tuple(state[k].shape) != tuple(expected[k])
    ]
    return errors


def infer_arch(state: Mapping[str, Tensor]) -> str:
    """The EfficientNet variant whose encoder the source weights fit.

    Args:
        state: The source state dict.

    Returns:
        str: ``'b0'`` ... ``'b7'``.
    """
    for arch in ARCHS:
        converted = convert_efficientnet(state, arch)
        if not converted.unmapped and not check_shapes(converted.state_dict,
                                                       arch):
            return arch
    raise ValueError('infer_arch: the weights match no EfficientNet variant '
                     f'{ARCHS} in timm / geffnet names')
