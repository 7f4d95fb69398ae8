"""Check a SemanticKITTI SSC submission zip like the benchmark server.

Example::

    python tools/validate_submission.py submission.zip \\
        data/semantickitti/dataset --task completion

Prints every problem (the server stops at the first) and exits with status
0 only for a valid submission. ``DATASET_ROOT`` holds
``sequences/NN/voxels/*.bin``; every ``.bin`` of the checked sequences
(default: the hidden test set 11-21) needs a prediction in the zip.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from projects.OccDepth.occdepth.datasets.io import \
    KITTI_GRID_SIZE  # noqa: E402
from projects.OccDepth.occdepth.evaluation.submission import (  # noqa: E402
    TEST_SEQUENCES, validate_submission)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Validate a SemanticKITTI semantic scene completion '
        'submission zip')
    parser.add_argument('zip', help='the submission zip')
    parser.add_argument(
        'dataset_root', help='folder holding sequences/NN/voxels/*.bin')
    parser.add_argument(
        '--task',
        choices=['completion'],
        default='completion',
        help='benchmark task (only semantic scene completion)')
    parser.add_argument(
        '--sequences',
        nargs='+',
        default=list(TEST_SEQUENCES),
        help='sequences to check (default: the hidden test set 11-21)')
    parser.add_argument(
        '--grid-size',
        type=int,
        nargs=3,
        default=list(KITTI_GRID_SIZE),
        metavar=('X', 'Y', 'Z'),
        help='voxel grid of each prediction (default: 256 256 32)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        errors = validate_submission(args.zip, args.dataset_root,
                                     args.sequences, args.grid_size)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for error in errors:
        print(error)
    if errors:
        print(f'{args.zip} is NOT a valid submission ({len(errors)} '
              f'problems)')
        return 1
    names = ', '.join(s.zfill(2) for s in args.sequences)
    print(f'{args.zip} is a valid {args.task} submission for sequences '
          f'{names}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
