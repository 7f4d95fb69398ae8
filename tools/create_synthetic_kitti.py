"""Write a small synthetic dataset in the SemanticKITTI layout.

Example::

    python tools/create_synthetic_kitti.py --out data/synthetic_kitti \\
        --sequences 00 01 08 --frames 4 --seed 0 --image-size 370 1220

See :mod:`tools.dataset_converters.synthetic_kitti` for the scenes, the
rendering and the meaning of each file.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    KITTI_IMAGE_SIZE  # noqa: E402
from tools.dataset_converters import synthetic_kitti  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Create a synthetic stereo SSC dataset in the '
        'SemanticKITTI layout (sequences/XX/{calib.txt,image_2,image_3,'
        'voxels}) plus left stereo depth maps.')
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
        default=list(KITTI_IMAGE_SIZE),
        metavar=('H', 'W'),
        help='image height and width (default: '
        '370 1220, intrinsics are scaled from KITTI)')
    parser.add_argument(
        '--grid-size',
        type=int,
        nargs=3,
        default=list(synthetic_kitti.KITTI_GRID_SIZE),
        metavar=('X', 'Y', 'Z'),
        help='voxel grid (default: 256 256 32)')
    parser.add_argument(
        '--voxel-size',
        type=float,
        default=synthetic_kitti.KITTI_VOXEL_SIZE,
        help='voxel edge in metres (default: 0.2); the origin is '
        '(0, -Y * size / 2, -2)')
    parser.add_argument(
        '--depth-root',
        default=None,
        help='root of the stereo depth maps (default: OUT/depth)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    seconds = synthetic_kitti.generate_dataset(
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
