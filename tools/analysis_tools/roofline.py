"""Per-part roofline of an OccDepth step: work, time and ceiling.

Example::

    python tools/analysis_tools/roofline.py CONFIG --mode train \\
        --threads 1 --repeats 3 --warmup 1 --json roofline.json

For every part of the model (2D encoder, 2D decoder, Stereo-SFA, OAD depth
head, 3D UNet + CRP, the output-resolution head, the losses and, with
``--mode train``, the backward pass of each) prints the GFLOP of its
convolutions and matrix products, its median time in the step, the achieved
GFLOP/s, the time of those calls in the step and of the rest of the part,
and the ceiling: the sum of the best times of the same calls run alone on
the same threads; parts below 85 % of their ceiling are flagged. A second
table lists the calls that take the most time. The method is described in
``projects/OccDepth/occdepth/engine/roofline.py``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

# libgomp reads its spin count when torch loads: set it first, as
# benchmark.py does (projects/OccDepth/occdepth/engine/threads.py).
if 'OMP_WAIT_POLICY' not in os.environ:
    os.environ.setdefault('GOMP_SPINCOUNT', '1000')
sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import DictAction  # noqa: E402

from projects.OccDepth.occdepth.engine.config_loading import (  # noqa: E402
    image_size, load_config)
from projects.OccDepth.occdepth.engine.profiling import \
    parse_device  # noqa: E402
from projects.OccDepth.occdepth.engine.roofline import (  # noqa: E402
    calls_table, markdown_table, run_roofline)
from projects.OccDepth.occdepth.engine.threads import \
    configure_cpu_threads  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-part roofline of an OccDepth step')
    parser.add_argument('config', help='config file')
    parser.add_argument('--mode', choices=('train', 'infer'), default='train')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image size (default: crop_size of the training pipeline)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='timed steps (median) and instrumented steps')
    parser.add_argument(
        '--warmup',
        type=int,
        default=1,
        help='untimed steps first, and untimed runs of each call alone')
    parser.add_argument(
        '--ceiling-repeats',
        type=int,
        default=5,
        help='timed runs of each call alone (the best counts)')
    parser.add_argument(
        '--top', type=int, default=10, help='calls listed in the table')
    parser.add_argument(
        '--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.ceiling_repeats < 1 or args.warmup < 0:
        parser.error('--repeats and --ceiling-repeats must be at least 1, '
                     '--warmup at least 0')
    try:
        args.device = parse_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    configure_cpu_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    import projects.OccDepth.occdepth  # noqa: F401
    img_hw = image_size(cfg, args.shape)
    result = run_roofline(cfg, args.mode, img_hw, args.repeats, args.warmup,
                          args.ceiling_repeats, args.device)
    env, after = result['environment_before'], result['environment_after']
    print(f"config: {args.config}, mode: {args.mode}, image: {img_hw[0]} x "
          f"{img_hw[1]}, threads: {env['threads']}, device: {env['device']} "
          f"({env.get('gpu', env['cpu'])}), torch {env['torch']} "
          f"(CPU ISA {env['isa']})")
    load = ', '.join(f'{v:.2f}' for v in env['load_average'])
    load_after = ', '.join(f'{v:.2f}' for v in after['load_average'])
    print(f'load average (1, 5, 15 min): {load} before, {load_after} after')
    print(f"step: median {result['step_s']:.3f} s of {args.repeats} "
          f"(min {result['step_min_s']:.3f}, max {result['step_max_s']:.3f}),"
          f" peak {result['peak_mib']:.0f} MiB; ceilings: best of "
          f"{args.ceiling_repeats} runs alone after {args.warmup} warm-up, "
          f"{result['distinct_calls']} distinct calls\n")
    print(markdown_table(result['rows']))
    print(f'\nThe {args.top} calls with the most time in the step:\n')
    print(calls_table(result['calls'], args.top))
    result['rows'] = [row.as_dict() for row in result['rows']]
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, **result), f, indent=1)
    return result


if __name__ == '__main__':
    main()
