"""Pre-compute dataset files.

``kitti``: the SemanticKITTI label cache read by ``LoadSSCLabels``::

    python tools/create_data.py kitti --data-root data/kitti/dataset \\
        --out-dir data/kitti/preprocess

writes ``{out-dir}/labels/{seq}/{frame}_1_1.npy`` (remapped labels with the
``.invalid`` voxels set to 255), ``_1_2.npy`` and ``_1_8.npy`` (majority
pooled), all uint8.

``kitti-lidar-depth``: LiDAR depth maps of both cameras (Table 4c)::

    python tools/create_data.py kitti-lidar-depth \\
        --data-root data/kitti/dataset --out-dir data/kitti/lidar_depth

writes ``{out-dir}/sequences/{seq}/depth/{frame}.png`` (image_2) and
``depth_3/{frame}.png`` (image_3) at the size of the image files.

``kitti360-lidar-depth``: SSCBench-KITTI-360 LiDAR depth maps of both
rectified views::

    python tools/create_data.py kitti360-lidar-depth \\
        --data-root data/kitti360/KITTI-360 --out-dir data/kitti360/lidar_depth

writes ``{out-dir}/{drive}/depth_00/{frame}.png`` (image_00) and
``depth_01/{frame}.png`` (image_01) from
``data_3d_raw/{drive}/velodyne_points/data/*.bin``.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import argparse  # noqa: E402
import time  # noqa: E402
from typing import List, Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from projects.OccDepth.occdepth.datasets.kitti360 import \
    KITTI360_SPLITS  # noqa: E402
from projects.OccDepth.occdepth.datasets.lidar_depth import \
    create_lidar_depth  # noqa: E402
from projects.OccDepth.occdepth.datasets.nyuv2 import \
    create_nyu_cache  # noqa: E402
from projects.OccDepth.occdepth.datasets.voxel_labels import (  # noqa: E402
    labels_at_scales, read_kitti_labels)
from tools.dataset_converters.kitti360_lidar_depth import \
    create_kitti360_lidar_depth  # noqa: E402

LABELLED_SEQUENCES = tuple(f'{i:02d}' for i in range(11))
CACHE_FACTORS = (1, 2, 8)


def create_kitti_label_cache(
    data_root: str,
    out_dir: str,
    sequences: Sequence[str] = LABELLED_SEQUENCES,
    grid_size: Sequence[int] = (256, 256, 32)
) -> int:
    """Write the downsampled label cache of every labelled frame.

    Args:
        data_root: Folder holding ``sequences/``.
        out_dir: Cache root; files go to ``{out_dir}/labels/{seq}/``.
        sequences: Sequences to process.
        grid_size: ``(X, Y, Z)`` of the label files.

    Returns:
        int: Number of frames written.
    """
    jobs = []
    for seq in sequences:
        voxel_dir = os.path.join(data_root, 'sequences', seq, 'voxels')
        if not os.path.isdir(voxel_dir):
            print(f'sequence {seq}: {voxel_dir} not found, skipped')
            continue
        names = set(os.listdir(voxel_dir))
        frames = sorted(n[:-6] for n in names if n.endswith('.label'))
        for frame in frames:
            invalid = os.path.join(voxel_dir, f'{frame}.invalid')
            if not os.path.isfile(invalid):
                raise FileNotFoundError(f'{invalid} not found: every .label '
                                        'needs its .invalid')
            jobs.append((seq, frame, os.path.join(voxel_dir,
                                                  f'{frame}.label'), invalid))
    if not jobs:
        raise ValueError(f'no .label files found under {data_root} for '
                         f'sequences {", ".join(sequences)}')

    start = time.perf_counter()
    for i, (seq, frame, label_path, invalid_path) in enumerate(jobs, 1):
        labels, num_unknown = read_kitti_labels(label_path, invalid_path,
                                                grid_size)
        if num_unknown:
            print(f'warning: {label_path}: {num_unknown} voxels hold raw '
                  f'ids absent from the learning map (set to 255)')
        seq_out = os.path.join(out_dir, 'labels', seq)
        os.makedirs(seq_out, exist_ok=True)
        for key, grid in labels_at_scales(labels, CACHE_FACTORS).items():
            np.save(os.path.join(seq_out, f'{frame}_{key}.npy'), grid)
        if i % 100 == 0 or i == len(jobs):
            elapsed = time.perf_counter() - start
            print(f'{i}/{len(jobs)} frames, '
                  f'{i / max(elapsed, 1e-9):.1f} frames/s')
    return len(jobs)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pre-compute dataset files for OccDepth.')
    sub = parser.add_subparsers(dest='dataset', required=True)
    kitti = sub.add_parser(
        'kitti', help='SemanticKITTI: remapped and downsampled labels')
    kitti.add_argument(
        '--data-root', required=True, help='folder holding sequences/')
    kitti.add_argument('--out-dir', required=True, help='cache root')
    kitti.add_argument(
        '--sequences',
        nargs='+',
        default=list(LABELLED_SEQUENCES),
        help='sequences to process (default: the labelled 00-10)')
    kitti.add_argument(
        '--grid-size',
        nargs=3,
        type=int,
        default=[256, 256, 32],
        metavar=('X', 'Y', 'Z'),
        help='voxel grid of the label files')
    lidar = sub.add_parser(
        'kitti-lidar-depth',
        help='SemanticKITTI: LiDAR depth maps of both cameras')
    lidar.add_argument(
        '--data-root',
        required=True,
        help='folder holding sequences/ (with velodyne/)')
    lidar.add_argument('--out-dir', required=True, help='depth_root to write')
    lidar.add_argument(
        '--sequences', nargs='+', default=list(LABELLED_SEQUENCES))
    lidar360 = sub.add_parser(
        'kitti360-lidar-depth',
        help='SSCBench-KITTI-360: LiDAR depth maps of both cameras')
    lidar360.add_argument(
        '--data-root',
        required=True,
        help='KITTI-360 folder (calibration/, data_2d_raw/, data_3d_raw/)')
    lidar360.add_argument(
        '--out-dir', required=True, help='depth_root to write')
    lidar360.add_argument(
        '--sequences',
        nargs='+',
        default=sorted(set(sum(KITTI360_SPLITS.values(), ()))),
        help='drives (default: every benchmark drive)')
    nyu = sub.add_parser(
        'nyu', help='NYUv2: 1:4 and 1:16 labels of the depthbin .bin files')
    nyu.add_argument(
        '--data-root', required=True, help='folder holding NYUtrain/ NYUtest/')
    nyu.add_argument('--out-dir', required=True, help='cache root')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.dataset == 'kitti':
        sequences = [s.zfill(2) for s in args.sequences]
        create_kitti_label_cache(args.data_root, args.out_dir, sequences,
                                 args.grid_size)
    elif args.dataset == 'nyu':
        create_nyu_cache(args.data_root, args.out_dir)
    elif args.dataset == 'kitti-lidar-depth':
        sequences = [s.zfill(2) for s in args.sequences]
        count = create_lidar_depth(args.data_root, args.out_dir, sequences)
        print(f'wrote the LiDAR depth maps of {count} frames (both '
              f'cameras) to {args.out_dir}')
    elif args.dataset == 'kitti360-lidar-depth':
        count = create_kitti360_lidar_depth(args.data_root, args.out_dir,
                                            args.sequences)
        print(f'wrote the LiDAR depth maps of {count} frames (both '
              f'cameras) to {args.out_dir}')


if __name__ == '__main__':
    main()
