"""Stereo-SFA's cosine weights of a trained model: do they find surfaces?

Example (a run of the synthetic benchmark's ablation study)::

    python tools/analysis_tools/sfa_cosine.py \\
        configs/ablations/synthetic/full.py \\
        work_dirs/ablation_synthetic/full/seed_0/epoch_2.pth \\
        --frames 8 --wall 7.2

Prints, per feature scale, the mean cosine of the surface and the free
voxels of the projected grid seen by both views on the first held-out
frames, with the ROC AUC (0.5: no depth information), for the trained and
the untrained model; with ``--wall D`` also the cosine along the voxels
straight ahead of the camera for a textured wall rendered by the benchmark
generator with its face at ``x = D`` metres (a pair with known disparity: a
useful weight peaks at the wall). See
``projects/OccDepth/occdepth/engine/sfa_diagnostics.py``.
"""
import argparse
import os
import os.path as osp
import sys

if 'OMP_WAIT_POLICY' not in os.environ:
    os.environ.setdefault('GOMP_SPINCOUNT', '1000')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet3d.registry import MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import projects.OccDepth.occdepth  # noqa: E402,F401
from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    kitti_calib  # noqa: E402
from projects.OccDepth.occdepth.engine import sfa_diagnostics  # noqa: E402
from projects.OccDepth.occdepth.engine.checkpointing import (  # noqa: E402
    CheckpointError, cli_error, load_model_weights)
from projects.OccDepth.occdepth.engine.threads import \
    configure_cpu_threads  # noqa: E402
from tools.dataset_converters import synthetic_benchmark  # noqa: E402
from tools.dataset_converters import synthetic_streets  # noqa: E402
from tools.dataset_converters.synthetic_voxels import Grid  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a two-view Stereo-SFA config')
    parser.add_argument('checkpoint', help='trained weights')
    parser.add_argument(
        '--frames', type=int, default=8, help='held-out frames (default 8)')
    parser.add_argument(
        '--wall',
        type=float,
        default=None,
        metavar='D',
        help='also the profile in front of a wall at x = D metres')
    parser.add_argument(
        '--centred',
        action='store_true',
        help='subtract each feature map\'s per-channel mean first')
    parser.add_argument('--threads', type=int, default=None)
    return parser.parse_args(argv)


def wall_batch(cfg: Config, batch: dict, distance: float) -> dict:
    """``batch`` with its images replaced by a rendered wall at ``x = D``."""
    model = cfg.model
    grid = Grid(
        tuple(model.grid_size), float(model.voxel_size),
        tuple(model.voxel_origin))
    sample = batch['data_samples'][0]
    img_hw = tuple(batch['inputs']['imgs'][0].shape[-2:])
    size = grid.size[1] * grid.voxel_size
    wall = synthetic_streets.Primitive(
        'box', synthetic_streets.BUILDING, 1,
        (distance, distance + 4 * grid.voxel_size, -size, size, -10.0, 10.0))
    ground = synthetic_benchmark.GroundPlane(-1.65, 0.0, 0.0)
    calib = kitti_calib(sample.metainfo['sequence'], img_hw)
    frame = synthetic_benchmark.make_benchmark_frame([wall], ground, grid,
                                                     calib, img_hw,
                                                     np.random.default_rng(0),
                                                     (0, 0, 0))
    imgs = torch.stack(
        [torch.from_numpy(img).permute(2, 0, 1) for img in frame.images])
    return dict(batch, inputs=dict(batch['inputs'], imgs=[imgs]))


def main(argv=None) -> None:
    args = parse_args(argv)
    configure_cpu_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    dataloader = Runner.build_dataloader(cfg.test_dataloader, seed=0)
    for trained in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        if trained:
            try:
                load_model_weights(model, args.checkpoint)
            except CheckpointError as exc:
                sys.exit(cli_error(exc))
        model.eval()
        name = 'trained' if trained else 'untrained (seed 0)'
        print(f'## {name}: surface vs free voxels seen by both views, '
              f'{args.frames} held-out frames')
        print('| scale | cos surface | cos free | AUC | voxels |')
        print('|---|---|---|---|---|')
        scores = sfa_diagnostics.surface_free_separation(
            model, dataloader, args.frames, args.centred)
        for key, s in scores.items():
            print(f"| {key} | {s['surface']:.3f} | {s['free']:.3f} | "
                  f"{s['auc']:.3f} | {s['counts'][0]} / {s['counts'][1]} |")
        if args.wall is None:
            continue
        batch = wall_batch(cfg, next(iter(dataloader)), args.wall)
        data = model.data_preprocessor(batch, False)
        cos, _ = sfa_diagnostics.view_cosines(model, data['inputs']['imgs'],
                                              data['data_samples'],
                                              args.centred)
        shape = tuple(n // model.project_scale for n in cfg.model.grid_size)
        step = cfg.model.voxel_size * model.project_scale
        origin = cfg.model.voxel_origin
        j = shape[1] // 2
        k = int((0.0 - origin[2]) // step)  # the layer holding z = 0
        rows = np.ravel_multi_index(
            (np.arange(shape[0]), np.full(shape[0], j), np.full(shape[0], k)),
            shape)
        print(f'\nwall at x = {args.wall} m: cosine of the voxels straight '
              f'ahead (y index {j}, z index {k}) by x of the voxel centre')
        print('| x (m) | ' + ' | '.join(cos) + ' |')
        print('|---|' + '---|' * len(cos))
        for i, row in enumerate(rows):
            x = origin[0] + (i + 0.5) * step
            print(f'| {x:.1f} | ' + ' | '.join(f'{c[row]:.3f}'
                                               for c in cos.values()) + ' |')
        print()


if __name__ == '__main__':
    main()
