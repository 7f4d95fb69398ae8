"""Export SemanticTartanAir SSC labels from TartanAir's raw layout.

Example::

    python tools/create_tartanair_ssc.py --data-root data/tartanair \\
        --out-dir data/tartanair_ssc --scene office \\
        --difficulties Easy Hard --frame-step 5

Reads ``{data-root}/{scene}/{Easy|Hard}/P*/`` (left depth, segmentation and
poses) and writes ``{out-dir}/{scene}/{diff}/{Pxxx}/voxels/{frame}_1_{1,4,8}
.npy`` plus ``{frame}.json`` (calibration). See
:mod:`tools.dataset_converters.tartanair_ssc` for the grid, the classes
and the rules.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from projects.OccDepth.occdepth.datasets.tartanair import \
    TARTANAIR_DIFFICULTIES  # noqa: E402
from tools.dataset_converters import tartanair_ssc  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export SemanticTartanAir voxel labels (120 x 48 x 120 '
        'at 0.1 m, 14 classes, 255 = unobserved, or the authors\' '
        'surface-only labels) from TartanAir depth, segmentation and poses.')
    parser.add_argument(
        '--data-root',
        required=True,
        help='raw TartanAir root (holds SCENE/Easy|Hard/Pxxx/)')
    parser.add_argument(
        '--out-dir', required=True, help='output root of the labels')
    parser.add_argument(
        '--scene', default='office', help='scene folder (default: office)')
    parser.add_argument(
        '--difficulties',
        nargs='+',
        default=list(TARTANAIR_DIFFICULTIES),
        help='difficulty folders (default: Easy Hard)')
    parser.add_argument(
        '--trajectories',
        nargs='+',
        default=None,
        help='trajectory folders, e.g. P000 P005 (default: every P* found)')
    parser.add_argument(
        '--frame-step',
        type=int,
        default=tartanair_ssc.TARTANAIR_FRAME_STEP,
        help='export frames whose number is a multiple of it (default: 5)')
    parser.add_argument(
        '--class-map',
        default=None,
        help='JSON object {class name: [seg ids]} (default: the office map '
        'of the reference)')
    parser.add_argument(
        '--max-depth',
        type=float,
        default=None,
        help='depth limit in metres of surfaces and observed free space '
        '(default: none)')
    parser.add_argument(
        '--right-camera',
        choices=tartanair_ssc.RIGHT_CAMERA_SOURCES,
        default='pose',
        help='right camera extrinsics from pose_right.txt (pose) or the '
        'ideal 0.25 m rig (baseline); default: pose')
    parser.add_argument(
        '--labelling',
        choices=tartanair_ssc.LABELLINGS,
        default='observed',
        help='observed: surfaces, observed free space 0, the rest 255 '
        '(default); authors: surfaces binned with np.rint, every other voxel '
        '0, as the authors\' exporter (for numbers comparable with the '
        'paper)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    written = tartanair_ssc.export_ssc_labels(
        args.data_root,
        args.out_dir,
        scene=args.scene,
        difficulties=args.difficulties,
        trajectories=args.trajectories,
        frame_step=args.frame_step,
        class_map=args.class_map,
        max_depth=args.max_depth,
        right_camera=args.right_camera,
        labelling=args.labelling)
    for name, count in written.items():
        print(f'{args.scene}/{name}: {count} frames')
    total = sum(written.values())
    print(f'wrote {total} frames to {args.out_dir} in '
          f'{time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
