"""Map the authors' released OccDepth weights onto this project's model.

The released checkpoints are PyTorch Lightning 1.4.9 ``.ckpt`` files whose
``state_dict`` holds the LightningModule's own keys (docs/reference-notes.md,
Checkpoint keys):

* ``net_3d_decoder.*``: the 3D UNet, CRP and SSC head. :class:`SSCHead` uses
  the reference KITTI sub-module names, so the keys map one to one onto
  ``occ_head.*``; the NYU names are renamed (``process_1_4 -> process_l1``,
  ``process_1_8 -> process_l2``, ``up_1_16_1_8 -> up_13_l2``,
  ``up_1_8_1_4 -> up_12_l1``, ``ssc_head_1_4 -> ssc_head``).
* ``net_rgb.encoder.original_model.*`` (geffnet names) and
  ``net_rgb.decoder.*``: the 2D UNet, renamed by
  :func:`convert_reference_unet2d` onto ``backbone.*``.
* ``flosp_depth.depth_net.0.*``: the OAD depth network, onto
  ``depth_head.*`` (same sub-module names).

Reference tensors that the model does not need are dropped with a reason:
the OAD grid buffers (``voxel_size``, ``voxel_coord``, ``voxel_num``: the head
recomputes its grid from the config), the encoder head BN ``bn2`` (the UNet
taps the head conv before it), the decoder's ``resize_output_1_16`` (the
reference computes the 1/16 map but never uses it) and the ``downsample2``,
``downsample3``, ``downsample4`` skip branches of the stride-1 DDR
bottlenecks (DDR.py ``Bottleneck3D`` builds them at every stride but runs
them only when striding; :class:`Bottleneck3D` builds them only then). Every
other key without a counterpart is reported as unmapped.
"""
import os
import pickle
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, NamedTuple, Tuple

import torch
from torch import Tensor

from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import (
    ARCHS, convert_reference_unet2d)
from projects.OccDepth.occdepth.models.utils import convert_backbone

NYU_3D_NAMES = {
    'process_1_4': 'process_l1',
    'process_1_8': 'process_l2',
    'up_1_16_1_8': 'up_13_l2',
    'up_1_8_1_4': 'up_12_l1',
    'ssc_head_1_4': 'ssc_head',
}
SSC_HEAD_MODULES = ('process_l1', 'process_l2', 'up_13_l2', 'up_12_l1',
                    'up_l1_lfull', 'ssc_head', 'CP_mega_voxels')
DEPTH_NET_MODULES = ('reduce_conv', 'mlp', 'se', 'depth_conv', 'depth_pred')
OAD_BUFFERS = ('voxel_size', 'voxel_coord', 'voxel_num')

_PREFIX_3D = 'net_3d_decoder.'
_PREFIX_2D = 'net_rgb.'
_PREFIX_OAD = 'flosp_depth.'
_PREFIX_DEPTH_NET = 'flosp_depth.depth_net.0.'
_ENCODER_HEAD_BN = 'net_rgb.encoder.original_model.bn2.'
_UNUSED_OUT_CONV = 'backbone.out_convs.1_16.'
# The skip branches of a bottleneck inside a ``Process`` chain
# (``<chain>.main.<i>.downsample2.*``), all of stride 1; the strided
# bottleneck of a ``Downsample`` sits at ``<stage>.main.downsample2.*``.
_STRIDE1_DDR_SKIP = re.compile(r'^occ_head\..*\.main\.\d+\.downsample[234]\.')

DROP_REASONS = {
    'oad_buffer': 'OAD grid buffer, recomputed from the config',
    'encoder_bn2': 'encoder head BN, not run by the UNet (it taps the head '
    'conv before this BN)',
    'out_conv_1_16': 'the reference computes the 1/16 map but never uses it',
    'ddr_stride1_skip': 'skip of a stride-1 DDR bottleneck, never run',
}


class ConvertedState(NamedTuple):
    """Result of :func:`convert_reference_state`.

    Attributes:
        state_dict: The mapped tensors under this project's names.
        dropped: Reference keys deliberately left out, with the reason.
        unmapped: Reference keys with no counterpart in this project.
    """
    state_dict: 'OrderedDict[str, Tensor]'
    dropped: Dict[str, str]
    unmapped: List[str]


def _map_3d(key: str) -> str:
    """``net_3d_decoder.*`` -> ``occ_head.*``; '' if unknown."""
    head, _, tail = key[len(_PREFIX_3D):].partition('.')
    head = NYU_3D_NAMES.get(head, head)
    if head not in SSC_HEAD_MODULES or not tail:
        return ''
    return f'occ_head.{head}.{tail}'


def _map_depth_net(key: str) -> str:
    """``flosp_depth.depth_net.0.*`` -> ``depth_head.*``; '' if unknown."""
    name = key[len(_PREFIX_DEPTH_NET):]
    if name.partition('.')[0] not in DEPTH_NET_MODULES:
        return ''
    return f'depth_head.{name}'


def _map_2d(key: str, value: Tensor, arch: str) -> str:
    """``net_rgb.*`` -> ``backbone.*``; '' if unknown."""
    try:
        mapped = convert_reference_unet2d({key[len(_PREFIX_2D):]: value}, arch)
    except (ValueError, KeyError, IndexError):
        return ''
    return 'backbone.' + next(iter(mapped))


def convert_reference_state(state: Mapping[str, Tensor],
                            arch: str) -> ConvertedState:
    """Rename the reference LightningModule's weights for :class:`OccDepth`.

    Args:
        state: The ``state_dict`` of a released Lightning checkpoint.
        arch: EfficientNet variant of the reference backbone
            (``tf_efficientnet_b3_ns`` -> ``'b3'``).

    Returns:
        ConvertedState: mapped tensors, dropped keys and unmapped keys.
    """
    if arch not in ARCHS:
        raise ValueError(f'convert_reference_state: arch must be one of '
                         f'{ARCHS}, got {arch!r}')
    out = OrderedDict()
    dropped, unmapped = {}, []
    for key, value in state.items():
        new = ''
        if key.startswith(_PREFIX_3D):
            new = _map_3d(key)
            if _STRIDE1_DDR_SKIP.match(new):
                dropped[key] = DROP_REASONS['ddr_stride1_skip']
                continue
        elif key.startswith(_ENCODER_HEAD_BN):
            dropped[key] = DROP_REASONS['encoder_bn2']
            continue
        elif key.startswith(_PREFIX_2D):
            new = _map_2d(key, value, arch)
            if new.startswith(_UNUSED_OUT_CONV):
                dropped[key] = DROP_REASONS['out_conv_1_16']
                continue
        elif key.startswith(_PREFIX_DEPTH_NET):
            new = _map_depth_net(key)
        elif (key.startswith(_PREFIX_OAD)
              and key[len(_PREFIX_OAD):] in OAD_BUFFERS):
            dropped[key] = DROP_REASONS['oad_buffer']
            continue
        if not new:
            unmapped.append(key)
        elif new in out:
            raise ValueError(f'convert_reference_state: two reference keys '
                             f'map to {new!r} (the second is {key!r})')
        else:
            out[new] = value
    return ConvertedState(out, dropped, unmapped)


def encoder_shapes(arch: str) -> Dict[str, torch.Size]:
    """Shapes of ``backbone.encoder.*`` of an EfficientNetUNet2D of ``arch``
    (:func:`convert_backbone.encoder_shapes` under the model's prefix)."""
    return {
        f'backbone.encoder.{key}': shape
        for key, shape in convert_backbone.encoder_shapes(arch).items()
    }


def infer_arch(state: Mapping[str, Tensor]) -> str:
    """The EfficientNet variant whose encoder the reference weights fit.

    Args:
        state: The reference ``state_dict``.

    Returns:
        str: ``'b0'`` ... ``'b7'``.
    """
    for arch in ARCHS:
        converted = convert_reference_state(state, arch).state_dict
        encoder = {
            key: value.shape
            for key, value in converted.items()
            if key.startswith('backbone.encoder.')
        }
        if encoder and encoder == encoder_shapes(arch):
            return arch
    raise ValueError('infer_arch: the net_rgb.encoder weights match no '
                     f'EfficientNet variant {ARCHS}')


def compare_shapes(
    state: Mapping[str, Tensor],
    expected: Mapping[str,
                      torch.Size]) -> Tuple[List[str], List[str], List[str]]:
    """Keys missing from / unexpected in ``state`` and shape mismatches.

    ``num_batches_tracked`` is never reported missing: BatchNorm fills it in
    when loading.

    Returns:
        tuple: sorted ``missing``, ``unexpected`` and ``wrong_shape``
        (``'key: got (..) expected (..)'``) lists.
    """
    missing = sorted(
        key for key in expected
        if key not in state and not key.endswith('.num_batches_tracked'))
    unexpected = sorted(key for key in state if key not in expected)
    wrong = sorted(
        f'{key}: got {tuple(state[key].shape)}, expected '
        f'{tuple(expected[key])}' for key in state
        if key in expected and tuple(state[key].shape) != tuple(expected[key]))
    return missing, unexpected, wrong


def _placeholder(name: str) -> type:
    """An inert class standing in for the global ``name`` of a file."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    return type(
        name.rpartition('.')[2] or name, (), {
            '__new__': __new__,
            '__init__': __init__,
            '__setstate__': __setstate__,
            '__module__': __name__,
            '__doc__': f'Placeholder for {name}.',
        })


def load_reference_checkpoint(
        path: str) -> Tuple[Dict[str, Tensor], Dict[str, Any], List[str]]:
    """Read a Lightning checkpoint without running code from the file.

    The file is read with ``torch.load(weights_only=True)``. Lightning stores
    Python objects next to the weights (the OmegaConf training config, the
    callback classes); if the safe loader refuses them, they are replaced by
    inert placeholders (so neither omegaconf nor pytorch_lightning is needed
    and nothing from the file is executed) and the file is read again, still
    with the safe loader. Globals of blocked modules (``os``, ``sys``, ...)
    are refused.

    Args:
        path: The ``.ckpt`` file.

    Returns:
        tuple: the ``state_dict`` (name -> tensor), the other top-level
        entries of the checkpoint and the sorted names of the globals that
        were replaced by placeholders.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file')
    replaced: List[str] = []
    try:
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError:
            replaced = sorted(
                torch.serialization.get_unsafe_globals_in_checkpoint(path))
            stand_ins = [(_placeholder(name), name) for name in replaced]
            with torch.serialization.safe_globals(stand_ins):
                ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f'{path}: refused by the safe loader: {exc}') from exc
    except (RuntimeError, ValueError, EOFError) as exc:
        raise ValueError(
            f'{path}: not a readable torch checkpoint ({exc})') from exc
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a dict, got {type(ckpt).__name__}')
    if 'state_dict' in ckpt:
        state = ckpt['state_dict']
        rest = {k: v for k, v in ckpt.items() if k != 'state_dict'}
    else:
        state, rest = ckpt, {}
    if not isinstance(state, dict) or not state:
        raise ValueError(f'{path}: no state_dict in the checkpoint')
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise ValueError(f'{path}: state_dict entries that are not tensors: '
                         f'{bad[:5]}')
    return dict(state), rest, replaced
