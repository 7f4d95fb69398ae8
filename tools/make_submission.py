"""Zip SemanticKITTI SSC predictions for the benchmark server.

Example::

    python tools/make_submission.py work_dirs/submission \\
        --name OccDepth --code-url https://github.com/megvii-research/OccDepth

``PRED_ROOT`` holds ``sequences/NN/predictions/*.label`` (as written by
``tools/test.py --submit-dir``); the zip gets the explicit directory entries
the benchmark's validator requires. With ``--dataset-root`` the zip is then
checked like ``tools/validate_submission.py`` does. Symbolic links under
``PRED_ROOT/sequences`` are refused with an error naming them (a link's
target is never packed); copy the files in instead.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from projects.OccDepth.occdepth.evaluation.submission import (  # noqa: E402
    make_description, validate_submission, zip_submission)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Zip sequences/NN/predictions/*.label for the '
        'SemanticKITTI semantic scene completion benchmark')
    parser.add_argument(
        'pred_root', help='folder holding sequences/NN/predictions/')
    parser.add_argument(
        '--out', help='output zip (default: PRED_ROOT/submission.zip)')
    parser.add_argument(
        '--name', help='method name; adds description.txt to the zip')
    parser.add_argument('--pdf-url', default='', help='paper URL')
    parser.add_argument('--code-url', default='', help='code URL')
    parser.add_argument(
        '--dataset-root',
        help='folder holding sequences/NN/voxels/*.bin; validate the zip '
        'against the hidden test sequences 11-21')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out or osp.join(args.pred_root, 'submission.zip')
    description = None
    if args.name:
        description = make_description(args.name, args.pdf_url, args.code_url)
    try:
        count = zip_submission(args.pred_root, out, description)
        print(f'wrote {count} predictions to {out}')
        if args.dataset_root is None:
            return 0
        errors = validate_submission(out, args.dataset_root)
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(
            f'{out} is NOT a valid submission ({len(errors)} problems)',
            file=sys.stderr)
        return 1
    print(f'{out} is a valid submission')
    return 0


if __name__ == '__main__':
    sys.exit(main())
