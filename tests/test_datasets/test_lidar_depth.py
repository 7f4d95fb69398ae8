"""LiDAR depth maps of both views: hand-computed pixels, loading, flip."""
import os

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from projects.OccDepth.occdepth.datasets import SemanticKittiSSCDataset, io
from projects.OccDepth.occdepth.datasets.lidar_depth import (
    create_lidar_depth, read_velodyne)
from projects.OccDepth.occdepth.datasets.transforms import LoadStereoDepth

# The tiny calibration of conftest.py: f = 20 px, principal point (17, 11),
# right camera 0.54 m to the right (P3[0, 3] = -10.8), and Tr mapping a
# velodyne point (x, y, z) to camera (-y, -z - 0.08, x - 0.27).
POINTS = np.array([
    # camera (0.5, 0, 10): left u = 20 * 0.5 / 10 + 17 = 18, v = 11;
    # right u = (20 * 0.5 + 17 * 10 - 10.8) / 10 = 16.92 -> 17
    [10.27, -0.5, -0.08],
    # camera (1.4, 0, 28): left u = 18 (hidden behind the point above),
    # right u = (28 + 17 * 28 - 10.8) / 28 = 17.61 -> 18: visible
    [28.27, -1.4, -0.08],
    # camera (2.4, 0, 2): left u = 41 (outside the 40 px image),
    # right u = (48 + 34 - 10.8) / 2 = 35.6 -> 36
    [2.27, -2.4, -0.08],
    [-5.0, 0.0, 0.0],  # behind both cameras
])
# (v, u) -> depth of each view, by hand from the comments above
EXPECTED = [{(11, 18): 10.0}, {(11, 17): 10.0, (11, 18): 28.0, (11, 36): 2.0}]


def _kitti_with_scan(tmp_path, helpers, points=POINTS):
    root = str(tmp_path / 'kitti')
    helpers.make_kitti(root, {'00': (['000000'], True)})
    seq = os.path.join(root, 'sequences', '00')
    os.makedirs(os.path.join(seq, 'velodyne'))
    scan = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    scan.astype(np.float32).tofile(os.path.join(seq, 'velodyne', '000000.bin'))
    # images: black, white where each view's map has a LiDAR return
    for view, sub in enumerate(('image_2', 'image_3')):
        img = np.zeros((*helpers.IMG_HW, 3), dtype=np.uint8)
        for v, u in EXPECTED[view]:
            img[v, u] = 255
        Image.fromarray(img).save(os.path.join(seq, sub, '000000.png'))
    return root


def _nonzero(depth):
    return {
        (int(v), int(u)): float(depth[v, u])
        for v, u in zip(*np.nonzero(depth))
    }


def test_points_land_on_hand_computed_pixels_of_both_views(
        tmp_path, kitti_helpers):
    root = _kitti_with_scan(tmp_path, kitti_helpers)
    out = str(tmp_path / 'lidar_depth')
    assert create_lidar_depth(root, out, ['00']) == 1
    for view, sub in enumerate(('depth', 'depth_3')):
        depth = io.read_depth_png(
            os.path.join(out, 'sequences', '00', sub, '000000.png'))
        assert depth.shape == kitti_helpers.IMG_HW
        got = _nonzero(depth)
        assert got.keys() == EXPECTED[view].keys()
        for pix, metres in EXPECTED[view].items():
            assert got[pix] == pytest.approx(metres, abs=1 / 256)


def test_flip_keeps_each_view_aligned_with_its_depth(tmp_path, kitti_helpers):
    init_default_scope('mmdet3d')
    root = _kitti_with_scan(tmp_path, kitti_helpers)
    out = str(tmp_path / 'lidar_depth')
    create_lidar_depth(root, out, ['00'])
    width = kitti_helpers.IMG_HW[1]
    for flip in (0.0, 1.0):
        dataset = SemanticKittiSSCDataset(
            data_root=root,
            grid_size=kitti_helpers.GRID,
            depth_root=out,
            pipeline=[
                dict(type='LoadStereoImages', crop_size=None),
                dict(type='LoadStereoDepth', crop_size=None, num_views=2),
                dict(type='RandomStereoFlip', prob=flip),
            ])
        sample = dataset.get_data_info(0)
        assert sample['depth_paths'] == [
            os.path.join(out, 'sequences', '00', d, '000000.png')
            for d in ('depth', 'depth_3')
        ]
        results = dataset.pipeline(sample)
        depth = results['gt_depth']
        assert depth.shape == (2, *kitti_helpers.IMG_HW)
        for view in range(2):
            expected = {
                (v, width - 1 - u if flip else u): d
                for (v, u), d in EXPECTED[view].items()
            }
            got = _nonzero(depth[view])
            assert got == pytest.approx(expected, abs=1 / 256)
            marked = results['imgs'][view][..., 0] == 255
            assert set(zip(*np.nonzero(marked))) == set(expected)


def test_loader_needs_a_map_per_view(tmp_path, kitti_helpers):
    root = _kitti_with_scan(tmp_path, kitti_helpers)
    out = str(tmp_path / 'lidar_depth')
    create_lidar_depth(root, out, ['00'])
    left = os.path.join(out, 'sequences', '00', 'depth', '000000.png')
    loader = LoadStereoDepth(crop_size=None, num_views=2)
    with pytest.raises(ValueError, match='depth maps for 1 view'):
        loader(dict(depth_paths=[left], sequence='00', frame_id='000000'))
    with pytest.raises(ValueError, match='has no depth_paths'):
        loader(dict(depth_path=left, sequence='00', frame_id='000000'))
    single = LoadStereoDepth(crop_size=None)(dict(depth_path=left))
    assert _nonzero(single['gt_depth']).keys() == EXPECTED[0].keys()


def test_bad_scan_and_missing_scan(tmp_path, kitti_helpers):
    root = _kitti_with_scan(tmp_path, kitti_helpers)
    scan = os.path.join(root, 'sequences', '00', 'velodyne', '000000.bin')
    np.zeros(5, dtype=np.float32).tofile(scan)
    with pytest.raises(ValueError, match='multiple of 4'):
        read_velodyne(scan)
    os.remove(scan)
    with pytest.raises(FileNotFoundError, match='velodyne'):
        create_lidar_depth(root, str(tmp_path / 'o'), ['00'])


def test_missing_right_image(tmp_path, kitti_helpers):
    root = _kitti_with_scan(tmp_path, kitti_helpers)
    os.remove(os.path.join(root, 'sequences', '00', 'image_3', '000000.png'))
    with pytest.raises(FileNotFoundError, match='image_3'):
        create_lidar_depth(root, str(tmp_path / 'o'), ['00'])
