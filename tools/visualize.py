"""Render, export or view any voxel grid file: PNG, PLY or interactive HTML.

Examples::

    # a prediction of tools/test.py --submit-dir beside its ground truth
    KITTI=data/semantickitti/dataset
    python tools/visualize.py pred/sequences/08/predictions/000000.label \\
        --gt $KITTI/sequences/08/voxels/000000.label \\
        --gt-invalid $KITTI/sequences/08/voxels/000000.invalid \\
        --image $KITTI/sequences/08/image_2/000000.png \\
        --out frame.png frame.html
    # a PLY mesh (MeshLab, Open3D, Blender) of a NYU ground truth
    python tools/visualize.py NYU0001_0000.bin --dataset nyu --out scene.ply
    # the grid of a config (e.g. the demo's 128 x 128 x 16), three views
    python tools/visualize.py grid.npy --config configs/occdepth_demo.py \\
        --view -150 40 --view 30 40 --view 180 90 --out views.png

The extension of each ``--out`` file picks the format. ``.label`` files
hold raw SemanticKITTI ids (ground truth, or predictions written through
``learning_map_inv``) and are mapped back with ``learning_map``; ``.npy``
holds training ids; ``.bin`` is a NYUv2 depthbin file.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from projects.OccDepth.occdepth.engine.config_loading import \
    load_config  # noqa: E402
from projects.OccDepth.occdepth.visualization.grid_files import (  # noqa: E402,E501
    DATASET_STYLES, style_from_config, style_from_name)
from projects.OccDepth.occdepth.visualization.grid_views import (  # noqa: E402,E501
    DEFAULT_VIEW, visualize_files)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Render any voxel grid file to PNG, export PLY, or '
        'write a self-contained interactive HTML page')
    parser.add_argument(
        'grid',
        help='grid file: .label (raw SemanticKITTI ids), .npy '
        '(training ids) or .bin (NYUv2 depthbin)')
    parser.add_argument(
        '--out',
        nargs='+',
        required=True,
        help='output file(s); .png, .ply or .html')
    parser.add_argument('--gt', help='ground-truth grid drawn beside it')
    parser.add_argument('--invalid', help='.invalid file of GRID')
    parser.add_argument('--gt-invalid', help='.invalid file of --gt')
    parser.add_argument('--image', help='input image shown in the PNG')
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        '--config', help='take the dataset and grid from this config')
    source.add_argument(
        '--dataset',
        choices=sorted(DATASET_STYLES),
        help='dataset (palette, classes, grid); default semantickitti')
    parser.add_argument(
        '--grid-size', type=int, nargs=3, metavar=('X', 'Y', 'Z'))
    parser.add_argument('--voxel-size', type=float, help='metres')
    parser.add_argument(
        '--origin',
        type=float,
        nargs=3,
        metavar=('X', 'Y', 'Z'),
        help='position of the grid minimum corner')
    parser.add_argument(
        '--view',
        type=float,
        nargs=2,
        action='append',
        metavar=('AZIMUTH', 'ELEVATION'),
        help='a PNG view in degrees, one row each (repeat for several; '
        f'default {DEFAULT_VIEW[0]:g} {DEFAULT_VIEW[1]:g})')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(360, 480),
        metavar=('H', 'W'),
        help='size of each PNG panel')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    geometry = dict(
        grid_size=args.grid_size,
        voxel_size=args.voxel_size,
        origin=args.origin)
    try:
        if args.config:
            style = style_from_config(load_config(args.config), **geometry)
        else:
            style = style_from_name(args.dataset or 'semantickitti',
                                    **geometry)
        done = visualize_files(
            args.grid,
            args.out,
            style,
            gt_path=args.gt,
            invalid_path=args.invalid,
            gt_invalid_path=args.gt_invalid,
            image_path=args.image,
            views=[tuple(v) for v in args.view or [DEFAULT_VIEW]],
            size=tuple(args.size))
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for path, summary in done.items():
        print(f'wrote {path}: {summary}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
