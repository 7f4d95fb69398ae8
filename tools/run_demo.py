"""The embedded demo: synthetic stereo data -> train -> evaluate -> renders.

``make demo`` runs ``python tools/run_demo.py``:

1. writes a synthetic SemanticKITTI-format dataset (unless present) with
   ``tools/create_synthetic_kitti.py``'s generator: sequences 00 and 01 for
   training, 08 held out;
2. trains ``configs/occdepth_demo.py`` (the full OccDepth architecture at CPU
   size) on the CPU;
3. evaluates the trained model on the held-out sequence, prints the
   per-class table, writes PNG renders of prediction vs ground truth, and
   compares the SC IoU with the trivial all-empty / all-occupied answers.

``--seed`` is the training seed (``randomness.seed``: initial weights, sample
order, augmentations, drop-connect); the synthetic dataset is always written
with the generator's own seed. The same seed, thread count, CPU capability
and library versions repeat a run bit for bit; another thread count or
instruction set sums in another order, and the run then ends like one with
another seed (README.md, "The demo").
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import List, Optional

# Idle OpenMP threads spin 1000 times before they sleep, not libgomp's
# 300000, which on a busy machine takes CPU time from the threads doing the
# work (projects/OccDepth/occdepth/engine/threads.py); libgomp reads it when
# torch loads it, so before any import of torch.
if 'OMP_WAIT_POLICY' not in os.environ:
    os.environ.setdefault('GOMP_SPINCOUNT', '1000')
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from projects.OccDepth.occdepth.datasets.voxel_labels import \
    read_kitti_labels  # noqa: E402
from projects.OccDepth.occdepth.engine.threads import \
    configure_cpu_threads  # noqa: E402
from projects.OccDepth.occdepth.evaluation import (  # noqa: E402
    confusion_matrix, scores_from_confusion)
from tools.dataset_converters import synthetic_kitti  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN_SEQUENCES = ('00', '01')
HELD_OUT = ('08', )


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config', default=osp.join(ROOT, 'configs', 'occdepth_demo.py'))
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthetic_kitti')
    parser.add_argument(
        '--frames', type=int, default=12, help='frames per sequence')
    parser.add_argument(
        '--epochs', type=int, default=None, help='override max_epochs')
    parser.add_argument(
        '--seed',
        type=int,
        default=None,
        help="training seed (default: the config's randomness.seed)")
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads (default: the CPUs this process may use, from '
        'its affinity and cgroup quota)')
    return parser.parse_args(argv)


def demo_config(args: argparse.Namespace) -> Config:
    """The config of the run: ``args.config`` with the command line's data
    root, work dir, epochs, seed and a render hook."""
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data_root
    cfg.train_dataloader.dataset.depth_root = osp.join(args.data_root, 'depth')
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=args.seed)
    if cfg.get('randomness', {}).get('seed') is None:
        raise ValueError(f'{args.config}: randomness.seed is not set; the '
                         f'demo needs a fixed seed (give --seed)')
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(
            type='SSCVisualizationHook',
            out_dir=osp.join(args.work_dir, 'renders'))
    ]
    return cfg


def run_conditions(seed: int, threads: int) -> str:
    """What a bit-identical repetition of the run needs to match."""
    return (f'seed {seed}, {threads} torch thread'
            f"{'s' if threads > 1 else ''}, CPU capability "
            f'{torch.backends.cpu.get_cpu_capability()}, torch '
            f'{torch.__version__}')


def make_data(cfg: Config, data_root: str, frames: int) -> None:
    """Write the synthetic dataset unless a complete one is there."""
    wanted = TRAIN_SEQUENCES + HELD_OUT
    present = all(
        osp.isdir(osp.join(data_root, 'sequences', s, 'voxels'))
        for s in wanted)
    if present:
        print(f'[demo] using the synthetic dataset in {data_root}')
        return
    model = cfg.model
    crop = cfg.train_pipeline[0]['crop_size']
    print(f'[demo] writing a synthetic SemanticKITTI-format dataset to '
          f'{data_root} ({frames} frames x {len(wanted)} sequences)')
    synthetic_kitti.generate_dataset(
        data_root,
        sequences=wanted,
        frames=frames,
        image_size=crop,
        grid_size=model.grid_size,
        voxel_size=model.voxel_size,
        log=lambda line: print(f'[demo]   {line}', flush=True))


def trivial_baselines(cfg: Config, data_root: str) -> dict:
    """SC IoU of predicting every voxel empty / occupied on the held out
    frames, with the benchmark's rules."""
    grid = tuple(cfg.model.grid_size)
    conf_empty = conf_full = 0
    for seq in HELD_OUT:
        voxel_dir = osp.join(data_root, 'sequences', seq, 'voxels')
        for name in sorted(os.listdir(voxel_dir)):
            if not name.endswith('.label'):
                continue
            stem = osp.join(voxel_dir, name[:-len('.label')])
            gt, _ = read_kitti_labels(f'{stem}.label', f'{stem}.invalid', grid)
            gt = torch.from_numpy(gt.astype(np.int64))
            num_classes = cfg.model.occ_head.num_classes
            conf_empty = conf_empty + confusion_matrix(
                torch.zeros_like(gt), gt, num_classes)
            conf_full = conf_full + confusion_matrix(
                torch.ones_like(gt), gt, num_classes)
    return dict(
        empty=scores_from_confusion(conf_empty)['sc_iou'] * 100,
        occupied=scores_from_confusion(conf_full)['sc_iou'] * 100)


def main() -> None:
    args = parse_args()
    threads = configure_cpu_threads(args.threads)
    start = time.perf_counter()
    cfg = demo_config(args)
    conditions = run_conditions(cfg.randomness.seed, threads)

    make_data(cfg, args.data_root, args.frames)
    print(
        f'[demo] training {osp.basename(args.config)} for '
        f'{cfg.train_cfg.max_epochs} epochs on the CPU ({conditions})',
        flush=True)
    runner = Runner.from_cfg(cfg)
    runner.train()
    print('[demo] evaluating on the held-out sequence 08', flush=True)
    metrics = runner.test()
    baselines = trivial_baselines(cfg, args.data_root)
    minutes = (time.perf_counter() - start) / 60
    print('\n[demo] held-out sequence 08 (synthetic)')
    print(f"[demo]   OccDepth       SC IoU {metrics['SC_IoU']:6.2f}   "
          f"mIoU {metrics['mIoU']:6.2f}")
    print(f"[demo]   all empty      SC IoU {baselines['empty']:6.2f}")
    print(f"[demo]   all occupied   SC IoU {baselines['occupied']:6.2f}")
    print(f"[demo]   renders: {osp.join(args.work_dir, 'renders')}")
    print(f'[demo]   {conditions}')
    print(f'[demo]   wall time {minutes:.1f} min')
    if metrics['SC_IoU'] <= max(baselines.values()):
        raise SystemExit('[demo] the model did not beat the trivial '
                         'baselines')


if __name__ == '__main__':
    main()
