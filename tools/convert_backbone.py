"""Convert a timm / geffnet EfficientNet checkpoint for EfficientNetUNet2D.

``python tools/convert_backbone.py IN OUT.pth [--arch b7]``

``IN`` is a timm ``tf_efficientnet_b{0..7}`` checkpoint (such as
``tf_efficientnet_b7.ns_jft_in1k``, ``.pth`` or ``.safetensors``) or a
geffnet ``tf_efficientnet_b*_ns`` ``.pth``. Every tensor is renamed onto the
encoder's efficientnet_pytorch names; the ImageNet classifier and the head BN
(the UNet does not run them) are dropped with a message. The tool fails
(exit status 1, nothing written) if a source tensor has no counterpart, or
if an encoder weight is missing or has another shape. The output
``{'state_dict': ..., 'meta': ...}`` is what the backbone loads through
``init_cfg=dict(type='Pretrained', checkpoint=OUT.pth)``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Sequence

# Make ``projects.OccDepth.occdepth`` importable when run as a script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import \
    ARCHS  # noqa: E402
from projects.OccDepth.occdepth.models.utils import \
    convert_backbone as cb  # noqa: E402


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a timm / geffnet tf_efficientnet checkpoint to '
        'the encoder weights of EfficientNetUNet2D')
    parser.add_argument(
        'src', help='timm or geffnet checkpoint (.pth or .safetensors)')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument(
        '--arch',
        choices=ARCHS,
        help='EfficientNet variant (tf_efficientnet_b7_ns -> b7); inferred '
        'from the weights when omitted')
    return parser.parse_args(argv)


def _print_list(title: str, items: List[str]) -> None:
    if items:
        print(f'{title} ({len(items)}):')
        for item in items:
            print(f'  {item}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    state = cb.read_source_checkpoint(args.src)
    print(f'Loaded {args.src}: {len(state)} tensors')
    arch = args.arch or cb.infer_arch(state)
    print(f'Backbone: efficientnet-{arch}' +
          ('' if args.arch else ' (inferred from the weights)'))
    converted = cb.convert_efficientnet(state, arch)
    by_reason = {}
    for key, reason in converted.dropped.items():
        by_reason.setdefault(reason, []).append(key)
    for reason, keys in by_reason.items():
        _print_list(f'Dropped, {reason}', keys)
    _print_list(
        'BatchNorm num_batches_tracked absent from the source, written as 0',
        converted.filled)
    _print_list('Source keys without a counterpart', converted.unmapped)
    problems = cb.check_shapes(converted.state_dict, arch)
    _print_list(f'Differences from the efficientnet-{arch} encoder', problems)
    errors = []
    if converted.unmapped:
        errors.append(f'{len(converted.unmapped)} source tensor(s) left '
                      'unused')
    if problems:
        errors.append(f'{len(problems)} missing, unexpected or wrong-shape '
                      'tensor(s)')
    if errors:
        print('Conversion failed, nothing written: ' + '; '.join(errors))
        return 1
    meta = dict(
        converted_from=osp.basename(args.src),
        converter='tools/convert_backbone.py',
        arch=arch,
        dropped_keys=sorted(converted.dropped))
    torch.save({'state_dict': converted.state_dict, 'meta': meta}, args.dst)
    print(f'Wrote {args.dst}: {len(converted.state_dict)} tensors, for '
          f"init_cfg=dict(type='Pretrained', checkpoint='{args.dst}')")
    return 0


if __name__ == '__main__':
    sys.exit(main())
