"""Convert the authors' released OccDepth checkpoint for this project.

``python tools/convert_official_ckpt.py IN.ckpt OUT.pth [--arch b3]
[--config CONFIG]``

Reads the Lightning ``.ckpt`` with torch's safe loader (its non-tensor objects,
such as the OmegaConf training config, are replaced by inert placeholders),
renames every tensor (docs/reference-notes.md, Checkpoint keys), prints the
tensors it drops, grouped by the reason (the reference's unused tensors: the
OAD grid buffers, the encoder head BN, the 1/16 decoder output and the skip
branches of its stride-1 DDR bottlenecks), and fails (exit status 1, nothing
written) if a reference tensor has no counterpart or, with ``--config``, if a
weight of the model is missing or has another shape. The output is an mmengine
checkpoint ``{'state_dict': ..., 'meta': ...}`` for ``tools/test.py CONFIG
OUT.pth``.
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence

# Make ``projects.OccDepth.occdepth`` importable when run as a script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmdet3d.registry import MODELS  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import projects.OccDepth.occdepth  # noqa: E402,F401
from projects.OccDepth.occdepth.engine.config_loading import \
    load_config  # noqa: E402
from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import \
    ARCHS  # noqa: E402
from projects.OccDepth.occdepth.models.utils import \
    convert_reference as cr  # noqa: E402


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert the released OccDepth Lightning checkpoint to '
        'an mmengine checkpoint of this project')
    parser.add_argument('src', help='the authors\' .ckpt file')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument(
        '--arch',
        choices=ARCHS,
        help='EfficientNet variant of the backbone (tf_efficientnet_b3_ns '
        '-> b3); inferred from the weights when omitted')
    parser.add_argument(
        '--config',
        help='model config to check every converted weight against (names '
        'and shapes) and the OAD grid against')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of --config, key=value pairs')
    args = parser.parse_args(argv)
    if args.cfg_options and not args.config:
        parser.error('--cfg-options needs --config')
    return args


def _plain(value: Any) -> Any:
    """A value safe for ``torch.load(weights_only=True)`` in the meta."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _print_list(title: str, items: List[str]) -> None:
    if items:
        print(f'{title} ({len(items)}):')
        for item in items:
            print(f'  {item}')


def _check_oad_grid(state: Dict[str, torch.Tensor], model: torch.nn.Module,
                    src: str) -> List[str]:
    """Compare the reference OAD grid buffers with the model's depth head
    (the model's grid divided by its project_scale)."""
    if model.depth_head is None or 'flosp_depth.voxel_num' not in state:
        return []
    errors = []
    num = tuple(int(n) for n in state['flosp_depth.voxel_num'].tolist())
    grid = tuple(model.depth_head.grid_size)
    if num != grid:
        errors.append(f'{src}: the OAD grid is {num}, the config\'s depth '
                      f'head grid (grid_size / project_scale) is {grid}')
    if 'flosp_depth.voxel_size' in state:
        size = state['flosp_depth.voxel_size'].double()
        want = model.voxel_size * model.project_scale
        if not torch.allclose(size, torch.full_like(size, want), atol=1e-6):
            errors.append(f'{src}: the OAD voxel size is {size.tolist()}, '
                          f'the config\'s depth head voxel size (voxel_size '
                          f'* project_scale) is {want}')
    return errors


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    state, rest, replaced = cr.load_reference_checkpoint(args.src)
    print(f'Loaded {args.src}: {len(state)} tensors')
    if 'pytorch-lightning_version' in rest:
        print(f'  Lightning {rest["pytorch-lightning_version"]}, epoch '
              f'{rest.get("epoch")}, global step {rest.get("global_step")}')
    if replaced:
        print('Non-tensor objects read as inert placeholders (not needed '
              'for the weights): ' + ', '.join(replaced))
    arch = args.arch or cr.infer_arch(state)
    print(f'Backbone: efficientnet-{arch}' +
          ('' if args.arch else ' (inferred from the weights)'))

    converted = cr.convert_reference_state(state, arch)
    out = converted.state_dict
    by_reason: Dict[str, List[str]] = {}
    for key, reason in converted.dropped.items():
        by_reason.setdefault(reason, []).append(key)
    if by_reason:
        print(f'Dropped reference tensors ({len(converted.dropped)}), not '
              'used by the model:')
        for reason, keys in by_reason.items():
            _print_list(f'  {reason}', [f'  {key}' for key in keys])
    errors = []
    _print_list('Reference keys without a counterpart', converted.unmapped)
    if converted.unmapped:
        errors.append(f'{len(converted.unmapped)} reference tensor(s) left '
                      'unused')

    if args.config:
        cfg = load_config(args.config, args.cfg_options)
        model = MODELS.build(cfg.model)
        expected = {k: v.shape for k, v in model.state_dict().items()}
        errors += _check_oad_grid(state, model, args.src)
        checked = out
    else:
        expected = cr.encoder_shapes(arch)
        checked = {
            k: v
            for k, v in out.items() if k.startswith('backbone.encoder.')
        }
        print('No --config: only the encoder was checked (against '
              f'efficientnet-{arch}); pass the model config to check every '
              'weight.')
    missing, unexpected, wrong = cr.compare_shapes(checked, expected)
    _print_list('Weights of the model missing from the checkpoint', missing)
    _print_list('Converted tensors the model does not have', unexpected)
    _print_list('Tensors of the wrong shape', wrong)
    for name, items in (('missing', missing), ('unexpected', unexpected),
                        ('wrong-shape', wrong)):
        if items:
            errors.append(f'{len(items)} {name} tensor(s)')
    if errors:
        print('Conversion failed, nothing written: ' + '; '.join(errors))
        return 1

    meta = dict(
        converted_from=osp.basename(args.src),
        converter='tools/convert_official_ckpt.py',
        arch=arch,
        config=args.config,
        dropped_keys=sorted(converted.dropped),
        reference={
            k: _plain(rest.get(k))
            for k in ('epoch', 'global_step', 'pytorch-lightning_version')
        })
    torch.save({'state_dict': out, 'meta': meta}, args.dst)
    print(f'Wrote {args.dst}: {len(out)} tensors')
    return 0


if __name__ == '__main__':
    sys.exit(main())
