"""Speed and memory of an OccDepth config.

Example::

    python tools/analysis_tools/benchmark.py CONFIG --mode all \\
        --repeats 3 --warmup 1 --threads 2
    python tools/analysis_tools/benchmark.py CONFIG --device cuda --amp

On a GPU (``--device cuda``) each timed step is bracketed by
``torch.cuda.synchronize``, the peak memory is
``torch.cuda.max_memory_allocated`` (reset before every step) and
``torch.backends.cudnn.benchmark`` is on (cuDNN picks its convolution
algorithms in the warm-up steps). ``--amp`` runs the forward and the losses
under autocast: fp16 on CUDA, trained as ``tools/train.py --amp`` does
(mmengine's ``AmpOptimWrapper``: dynamic loss scaling, then the config's
gradient clipping), bf16 on the CPU (no loss scaling needed);
``--amp-dtype`` picks the other one on CUDA. The part breakdown synchronises
the GPU at every part boundary: ``--no-parts`` gives the plain step time.

``train``: one optimiser step (forward, every loss, backward, the config's
optimiser) on a synthetic stereo batch with a KITTI-like calibration scaled
to the image size; ``infer``: ``predict`` under ``no_grad`` on the same
batch; ``data``: reading samples of the config's training set through its
pipeline (one worker, this process). Prints markdown tables: median / min /
max seconds, peak memory, throughput, the 1-minute load average around each
measurement and a per-part breakdown of the median step.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import pickle
import statistics
import sys
from typing import Dict, Iterator, List, Optional, Sequence

# Idle OpenMP threads spin 1000 times before they sleep, not libgomp's
# 300000, which on a busy machine takes CPU time from the threads doing the
# work (projects/OccDepth/occdepth/engine/threads.py); libgomp reads it when
# torch loads it, so before any import of torch.
if 'OMP_WAIT_POLICY' not in os.environ:
    os.environ.setdefault('GOMP_SPINCOUNT', '1000')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from projects.OccDepth.occdepth.engine.config_loading import (  # noqa: E402
    image_size, load_config)
from projects.OccDepth.occdepth.engine.profiling import (  # noqa: E402
    PartTimer, PeakMemory, measure, parse_device, synthetic_batch,
    train_optim_cfg)
from projects.OccDepth.occdepth.engine.threads import \
    configure_cpu_threads  # noqa: E402
from projects.OccDepth.occdepth.models.losses import (  # noqa: E402
    frustum_loss, relation_loss, ssc_losses)

MODES = ('train', 'infer', 'data')
AMP_DTYPES = ('float16', 'bfloat16')
MODULE_PARTS = {
    'backbone (both views)': [r'backbone'],
    'backbone decoder': [r'backbone\.(bottleneck|up\d+|out_convs\.\w+)'],
    'Stereo-SFA': [r'view_transformer'],
    'OAD depth head': [r'depth_head'],
    '3D UNet + CRP':
    [r'occ_head\.(process_l1|process_l2|CP_mega_voxels|up_13_l2|up_12_l1)'],
    'full-res head': [r'occ_head\.(up_l1_lfull|ssc_head)'],
}
LOSS_FUNCTIONS = {
    'loss_ce': (ssc_losses, 'ce_ssc_loss'),
    'loss_sem_scal': (ssc_losses, 'sem_scal_loss'),
    'loss_geo_scal': (ssc_losses, 'geo_scal_loss'),
    'loss_frustum': (frustum_loss, 'frustum_proportion_loss'),
    'relation targets': (relation_loss, 'compute_relation_targets'),
    'loss_relation': (relation_loss, 'relation_loss'),
    'loss_occ': (ssc_losses, 'occupancy_loss'),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark an OccDepth '
                                     'config: step time, memory, data')
    parser.add_argument('config', help='config file')
    parser.add_argument('--mode', choices=MODES + ('all', ), default='all')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image size (default: crop_size of the training pipeline)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--threads',
        type=int,
        default=2,
        help='torch threads (fixed, so that results compare across '
        'machines)')
    parser.add_argument(
        '--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument(
        '--amp',
        action='store_true',
        help='forward and losses under autocast (fp16 on CUDA, bf16 on '
        'the CPU)')
    parser.add_argument(
        '--amp-dtype',
        choices=AMP_DTYPES,
        help='autocast dtype of --amp (default: float16 on CUDA, bfloat16 '
        'on the CPU, which supports only bfloat16 here)')
    parser.add_argument(
        '--no-parts',
        action='store_true',
        help='time whole steps only (no per-part breakdown, which '
        'synchronises a GPU at every part boundary)')
    parser.add_argument(
        '--data-samples',
        type=int,
        default=5,
        help='samples read in data mode (after one warm-up read)')
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    try:
        args.device = parse_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    if args.amp_dtype is not None and not args.amp:
        parser.error('--amp-dtype needs --amp')
    args.amp_dtype = amp_dtype(args, parser)
    return args


def amp_dtype(args: argparse.Namespace,
              parser: argparse.ArgumentParser) -> Optional[torch.dtype]:
    """The autocast dtype of ``--amp`` on ``args.device``, or None."""
    if not args.amp:
        return None
    name = args.amp_dtype or ('float16'
                              if args.device.type == 'cuda' else 'bfloat16')
    if name == 'float16' and args.device.type != 'cuda':
        parser.error('--amp-dtype float16 needs --device cuda: its loss '
                     "scaling is mmengine's AmpOptimWrapper, which needs "
                     'CUDA')
    return getattr(torch, name)


def make_timer(model, device: torch.device) -> PartTimer:
    callables = {
        label: [(module, name)]
        for label, (module, name) in LOSS_FUNCTIONS.items()
    }
    callables['frustum cells'] = [(model, 'frustum_cells')]
    if model.depth_head is not None:
        callables['loss_depth'] = [(model.depth_head, 'loss')]
    return PartTimer(model, MODULE_PARTS, callables, device)


def bench_model(cfg: Config, mode: str, args: argparse.Namespace,
                device: torch.device) -> Dict:
    from mmdet3d.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    img_hw = image_size(cfg, args.shape)
    batch = synthetic_batch(model, img_hw, args.batch_size)
    memory = PeakMemory(device)
    timer = None if args.no_parts else make_timer(model, device)
    section = timer.section if timer is not None else _untimed
    amp = args.amp_dtype

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=amp, enabled=amp is not None)

    if mode == 'train':
        model.train()
        optim = build_optim_wrapper(model, train_optim_cfg(cfg, amp))

        def step():
            data = model.data_preprocessor(batch, True)
            with autocast():
                losses = model(**data, mode='loss')
            with section('backward'):
                optim.backward(sum(losses.values()))
            with section('optimizer'):
                optim.step()
                optim.zero_grad()
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast():
                model(**model.data_preprocessor(batch, False), mode='predict')

    with timer.installed() if timer is not None else _untimed(''):
        result = measure(step, args.repeats, args.warmup, timer, memory,
                         device)
    result.update(
        image=img_hw,
        memory_source=memory.source,
        precision=str(amp or torch.float32).replace('torch.', ''))
    return result


@contextlib.contextmanager
def _untimed(label: str) -> Iterator[None]:
    """Stands in for ``PartTimer.section`` with ``--no-parts``."""
    yield


def bench_data(cfg: Config, args: argparse.Namespace) -> Dict:
    from mmdet3d.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    memory = PeakMemory(torch.device('cpu'))
    sizes: List[int] = []
    counter = iter(range(10**9))

    def step():
        sample = dataset[next(counter) % len(dataset)]
        sizes.append(len(pickle.dumps(sample, pickle.HIGHEST_PROTOCOL)))

    result = measure(step, args.data_samples, 1, None, memory,
                     torch.device('cpu'))
    result.update(
        samples_per_s=1 / result['median_s'],
        mib_per_sample=statistics.median(sizes) / 2**20,
        memory_source=memory.source)
    return result


def print_tables(results: Dict[str, Dict]) -> None:
    print('| mode | median s | min s | max s | peak MiB | throughput | '
          'load (1 min) |')
    print('|---|---|---|---|---|---|---|')
    for mode, r in results.items():
        if mode == 'data':
            extra = (f"{r['samples_per_s']:.2f} samples/s, "
                     f"{r['mib_per_sample']:.2f} MiB/sample")
        else:
            extra = f"{1 / r['median_s']:.3f} steps/s"
        print(f"| {mode} | {r['median_s']:.3f} | {r['min_s']:.3f} | "
              f"{r['max_s']:.3f} | {r['peak_mib']:.0f} | {extra} | "
              f"{r['load']:.2f} |")
    for mode, r in results.items():
        if not r.get('parts'):
            continue
        print(f'\n| {mode}: part | median s | share of step | '
              'MiB in use at its end |')
        print('|---|---|---|---|')
        for label, seconds in r['parts'].items():
            print(f"| {label} | {seconds:.3f} | "
                  f"{100 * seconds / r['median_s']:.1f}% | "
                  f"{r['part_memory'].get(label, float('nan')):.0f} |")


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    configure_cpu_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    import projects.OccDepth.occdepth  # noqa: F401
    device = args.device
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    modes = MODES if args.mode == 'all' else (args.mode, )
    results = {}
    for mode in modes:
        if mode == 'data':
            results[mode] = bench_data(cfg, args)
        else:
            results[mode] = bench_model(cfg, mode, args, device)
    name = (
        torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU')
    precision = str(args.amp_dtype).replace('torch.', '') if args.amp \
        else 'float32'
    print(f'config: {args.config}, threads: {args.threads}, device: '
          f'{device} ({name}), precision: {precision}, batch: '
          f'{args.batch_size}')
    print_tables(results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
