"""Check a dataset config: input images with the ground-truth voxels
projected on them, the depth map and the grid, after the pipeline.

Example::

    python tools/browse_dataset.py configs/occdepth_kitti.py \\
        --split train --frames 8 --out-dir work_dirs/browse

Writes ``{index}_{sequence}_{frame}_{left,right,depth,grid}.png`` per
frame (see ``projects/OccDepth/occdepth/visualization/browse.py``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402

from projects.OccDepth.occdepth.engine.config_loading import \
    load_config  # noqa: E402
from projects.OccDepth.occdepth.visualization.browse import (  # noqa: E402
    SPLITS, browse_dataset)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the pipeline output of a dataset config: images '
        'with projected ground-truth voxels, depth maps, grid renders')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--split',
        choices=SPLITS,
        default='train',
        help='dataloader whose dataset and pipeline to browse')
    parser.add_argument(
        '--frames', type=int, default=4, help='number of frames')
    parser.add_argument(
        '--out-dir', default='work_dirs/browse', help='output folder')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the augmentations')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
        written = browse_dataset(
            cfg,
            args.out_dir,
            split=args.split,
            frames=args.frames,
            seed=args.seed,
            log=print)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {len(written)} pictures to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
