"""Write a small synthetic dataset in the SemanticKITTI layout.

Example::

    python tools/create_synthetic_kitti.py --out data/synthetic_kitti \\
        --sequences 00 01 08 --frames 4 --seed 0 --image-size 370 1220

The synthetic stereo benchmark (independent scenes with weak layout
priors, ``.invalid`` = unseen by the left camera; 128 x 416 images and
64 x 64 x 16 voxels of 0.3 m unless given)::

    python tools/create_synthetic_kitti.py --scene benchmark \
        --out data/synthetic_benchmark --sequences 00 01 02 03 08 --frames 12

See :mod:`tools.dataset_converters.synthetic_kitti` for the street scenes,
the rendering and the meaning of each file, and
:mod:`tools.dataset_converters.synthetic_benchmark` for the benchmark.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    KITTI_IMAGE_SIZE  # noqa: E402
from tools.dataset_converters import synthetic_benchmark  # noqa: E402
from tools.dataset_converters import synthetic_kitti  # noqa: E402

# Defaults of each scene kind: image size, grid size, voxel size.
SCENE_DEFAULTS = {
    'street': (list(KITTI_IMAGE_SIZE), list(synthetic_kitti.KITTI_GRID_SIZE),
               synthetic_kitti.KITTI_VOXEL_SIZE),
    'benchmark': (list(synthetic_benchmark.BENCHMARK_IMAGE_SIZE),
                  list(synthetic_benchmark.BENCHMARK_GRID_SIZE),
                  synthetic_benchmark.BENCHMARK_VOXEL_SIZE),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Create a synthetic stereo SSC dataset in the '
        'SemanticKITTI layout (sequences/XX/{calib.txt,image_2,image_3,'
        'voxels}) plus left stereo depth maps.')
    parser.add_argument(
        '--scene',
        choices=sorted(SCENE_DEFAULTS),
        default='street',
        help='street: the demo\'s streets driven along a path (default); '
        'benchmark: the synthetic stereo benchmark, one independent scene '
        'per frame')
    parser.add_argument(
        '--out', required=True, help='dataset root (gets sequences/)')
    parser.add_argument(
        '--sequences',
        nargs='+',
        default=['00'],
        help='sequence names, two digits each (default: 00)')
    parser.add_argument(
        '--frames',
        type=int,
        default=4,
        help='labelled frames per sequence, every 5th scan (default: 4)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=None,
        metavar=('H', 'W'),
        help='image height and width (default: 370 1220 for street, '
        '128 416 for benchmark; intrinsics are scaled from KITTI)')
    parser.add_argument(
        '--grid-size',
        type=int,
        nargs=3,
        default=None,
        metavar=('X', 'Y', 'Z'),
        help='voxel grid (default: 256 256 32 for street, 64 64 16 for '
        'benchmark)')
    parser.add_argument(
        '--voxel-size',
        type=float,
        default=None,
        help='voxel edge in metres (default: 0.2 for street, 0.3 for '
        'benchmark); the origin is (0, -Y * size / 2, -2) for street, '
        '(0, -Y * size / 2, -Z * size / 2) for benchmark')
    parser.add_argument(
        '--depth-root',
        default=None,
        help='root of the stereo depth maps (default: OUT/depth)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    defaults = SCENE_DEFAULTS[args.scene]
    for name, value in zip(('image_size', 'grid_size', 'voxel_size'),
                           defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    generate = (
        synthetic_kitti.generate_dataset
        if args.scene == 'street' else synthetic_benchmark.generate_benchmark)
    seconds = generate(
        args.out,
        sequences=args.sequences,
        frames=args.frames,
        seed=args.seed,
        image_size=tuple(args.image_size),
        grid_size=tuple(args.grid_size),
        voxel_size=args.voxel_size,
        depth_root=args.depth_root,
        log=print)
    print(f'wrote {len(seconds)} frames to {args.out} '
          f'({sum(seconds) / len(seconds):.2f} s per frame)')


if __name__ == '__main__':
    main()
