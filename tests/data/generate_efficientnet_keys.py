"""Write the fixtures of ``tests/test_tools/test_convert_backbone.py``.

* ``efficientnet_keys.json``: the state-dict keys and shapes of timm's and
  geffnet's TF-ported EfficientNets B0, B3 and B7;
* ``tiny.safetensors``: five small tensors of known values written by the
  ``safetensors`` package, to check this project's reader against.

Run once with timm, geffnet and safetensors importable (none of them is a
dependency of this project)::

    python tests/data/generate_efficientnet_keys.py

The models are built on the meta device (no weights, no download). The script
fails if timm's ``tf_efficientnet_<arch>.ns_jft_in1k`` and geffnet's
``tf_efficientnet_<arch>_ns`` differ in a key, its order or a shape: the
fixture then holds one list for both.
"""
import json
import os.path as osp
from importlib.metadata import version

import geffnet
import timm
import torch
from safetensors.torch import save_file

ARCHS = ('b0', 'b3', 'b7')
HERE = osp.dirname(osp.abspath(__file__))
OUT = osp.join(HERE, 'efficientnet_keys.json')


def shapes(model: torch.nn.Module) -> list:
    return [[key, list(value.shape)]
            for key, value in model.state_dict().items()]


def main() -> None:
    archs = {}
    for arch in ARCHS:
        with torch.device('meta'):
            timm_keys = shapes(
                timm.create_model(
                    f'tf_efficientnet_{arch}.ns_jft_in1k', pretrained=False))
            geffnet_keys = shapes(
                geffnet.create_model(
                    f'tf_efficientnet_{arch}_ns', pretrained=False))
        if timm_keys != geffnet_keys:
            raise SystemExit(f'{arch}: timm and geffnet key layouts differ')
        archs[arch] = timm_keys
    lines = [
        '{', f'  "timm": "{version("timm")}",',
        f'  "geffnet": "{version("geffnet")}",', '  "archs": {'
    ]
    for i, (arch, keys) in enumerate(archs.items()):
        lines.append(f'    "{arch}": [')
        lines += [
            f'      {json.dumps(item)}' + (',' if j < len(keys) - 1 else '')
            for j, item in enumerate(keys)
        ]
        lines.append('    ]' + (',' if i < len(archs) - 1 else ''))
    lines += ['  }', '}']
    with open(OUT, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'wrote {OUT}')
    tiny = {
        'conv.weight': torch.tensor([[1.5, -2.0, 0.25]]),
        'half': torch.tensor([1.0, -2.0], dtype=torch.float16),
        'bf': torch.tensor([3.0], dtype=torch.bfloat16),
        'num_batches_tracked': torch.tensor(7),
        'empty': torch.zeros(0, 3),
    }
    save_file(
        tiny, osp.join(HERE, 'tiny.safetensors'), metadata={'format': 'pt'})


if __name__ == '__main__':
    main()
