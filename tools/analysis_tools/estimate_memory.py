"""GPU memory of a training step of an OccDepth config, estimated.

Example::

    python tools/analysis_tools/estimate_memory.py CONFIG --amp

Runs one training step (forward, every loss, backward, the optimiser) on
the meta device, where tensors have shapes but no data, and adds up the
parameters, gradients, optimiser state, input batch, tensors saved for the
backward pass, camera-cache tables and the largest temporary
(projects/OccDepth/occdepth/engine/memory_estimate.py). ``--amp`` adds the
step under emulated CUDA fp16 autocast. Prints a markdown table in GiB.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from projects.OccDepth.occdepth.engine.config_loading import (  # noqa: E402
    image_size, load_config)
from projects.OccDepth.occdepth.engine.memory_estimate import (  # noqa: E402
    estimate_config, format_estimates)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Estimate the GPU memory of a training step')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image size (default: crop_size of the training pipeline)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--amp',
        action='store_true',
        help='also estimate the step under CUDA autocast (emulated)')
    parser.add_argument(
        '--amp-dtype',
        choices=('float16', 'bfloat16'),
        default='float16',
        help='autocast dtype of --amp')
    parser.add_argument('--json', help='also write the estimates here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    import projects.OccDepth.occdepth  # noqa: F401
    img_hw = image_size(cfg, args.shape)
    precisions = {'float32': None}
    if args.amp:
        precisions[args.amp_dtype] = getattr(torch, args.amp_dtype)
    estimates = {
        name: estimate_config(cfg, img_hw, args.batch_size, dtype)
        for name, dtype in precisions.items()
    }
    print(f'config: {args.config}, image: {img_hw[0]}x{img_hw[1]}, batch: '
          f'{args.batch_size}, GiB')
    print(format_estimates(estimates))
    result = {name: est.as_gib() for name, est in estimates.items()}
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
