"""SSCBench-KITTI-360 on tiny files in the benchmark's raw layout
(tests/test_datasets/kitti360_layout.py): calibration, label remap, LiDAR
depth and the errors of missing or malformed files."""
import os

import numpy as np
import pytest
import torch

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets import kitti360 as k360
from projects.OccDepth.occdepth.datasets.kitti360_calibration import \
    read_calibration
from projects.OccDepth.occdepth.datasets.transforms import LoadStereoDepth
from projects.OccDepth.occdepth.models.utils import geometry
from tests.test_datasets import kitti360_layout as layout
from tools import create_data
from tools.dataset_converters.kitti360_lidar_depth import \
    create_kitti360_lidar_depth

DRIVE_06 = '2013_05_28_drive_0006_sync'


@pytest.fixture
def root(tmp_path):
    """Drives 00 (frames 0, 5) and 06 (frame 10), grid 16 x 16 x 8."""
    return layout.make_kitti360(
        str(tmp_path / 'KITTI-360'), {
            '00': ['000000', '000005'],
            '06': ['000010']
        },
        scans=True)


def _voxel_dir(root, drive=DRIVE_06):
    return os.path.join(root, 'data_2d_raw', drive, 'voxels')


def test_known_voxel_lands_on_hand_computed_pixels(root):
    # a 1 m grid from (0.6, 0.7, 0.3): voxel (8, 4, 0) is centred on the
    # velodyne point (9.1, 5.2, 0.8) of kitti360_layout.py
    dataset = k360.Kitti360SSCDataset(
        root,
        split='val',
        grid_size=(10, 6, 2),
        voxel_size=1.0,
        voxel_origin=(0.6, 0.7, 0.3))
    info = dataset.get_data_info(0)
    centres = geometry.voxel_centers(info['grid_size'], info['voxel_size'],
                                     info['voxel_origin'])
    index = np.ravel_multi_index((8, 4, 0), info['grid_size'])
    np.testing.assert_allclose(
        centres[index].numpy(), layout.KNOWN_POINT, rtol=1e-6)
    lidar2img = geometry.build_lidar2img(
        torch.as_tensor(info['cam2img']), torch.as_tensor(info['lidar2cam']))
    uv, depth = geometry.project_points(centres[index:index + 1],
                                        lidar2img[None])
    np.testing.assert_allclose(
        uv[0, :, 0].numpy(),
        [layout.KNOWN_LEFT_PIXEL, layout.KNOWN_RIGHT_PIXEL],
        atol=1e-5)
    # (the float32 voxel centre of the projection moves it by < 1e-5)
    np.testing.assert_allclose(depth[0, :, 0].numpy(), [10.0, 10.0], atol=1e-5)
    # the right camera sits b = 0.6 m along the rectified x axis
    shift = info['lidar2cam'][1] @ np.linalg.inv(info['lidar2cam'][0])
    np.testing.assert_allclose(
        shift[:3, 3], [-layout.BASELINE, 0, 0], atol=1e-12)
    np.testing.assert_allclose(info['cam2img'][1], layout.P_RECT_00[:, :3])


def test_labels_remap_as_the_benchmark(tmp_path):
    # raw id -> training id of SSCBench-KITTI-360 (kitti360.yaml):
    # other-structure and other-object are classes; bicyclist, trunk and
    # moving-bicyclist are ignored; unknown 999 is ignored; an invalid voxel
    # is ignored unless its raw id is non-zero
    raw = [0, 1, 10, 31, 52, 60, 71, 99, 252, 253, 259, 999, 0, 10]
    invalid = [0] * 12 + [1, 1]
    expected = [0, 255, 1, 255, 17, 7, 255, 18, 1, 255, 5, 255, 255, 1]
    grid = (len(raw), 1, 1)
    io.write_label(str(tmp_path / 'a.label'), np.reshape(raw, grid))
    np.array(invalid, dtype=np.uint8).tofile(str(tmp_path / 'a.invalid'))
    labels, num_unknown, num_invalid = k360.read_kitti360_labels(
        str(tmp_path / 'a.label'), str(tmp_path / 'a.invalid'), grid)
    assert labels.dtype == np.uint8
    assert labels.reshape(-1).tolist() == expected
    assert (num_unknown, num_invalid) == (1, 1)


def test_dataset_serves_the_stereo_frames_with_their_labels(root):
    dataset = k360.Kitti360SSCDataset(
        root, split='train', grid_size=(16, 16, 8))
    assert len(dataset) == 2  # drive 00; 02-05, 07 and 10 are absent
    assert dataset.metainfo['classes'][17] == 'other-structure'
    info = dataset.get_data_info(1)
    drive_dir = os.path.join(root, 'data_2d_raw', '2013_05_28_drive_0000_sync')
    assert info['img_paths'] == [
        os.path.join(drive_dir, 'image_00', 'data_rect', '000005.png'),
        os.path.join(drive_dir, 'image_01', 'data_rect', '000005.png')
    ]
    results = k360.LoadKitti360Labels(crp_factor=8).transform(dict(info))
    expected = np.zeros((16, 16, 8), dtype=np.uint8)
    expected[:, :, :2] = 7  # road
    expected[4:8, 4:8, 2:4] = 1  # car
    expected[8, 8, 2:] = 17  # other-structure
    expected[0, 0, 2] = 255  # trunk, ignored
    # the invalid plane x = 15 ignores its empty voxels only: road and the
    # car voxel (non-zero raw ids) keep their labels
    expected[15, :, 2:] = 255
    expected[15, 0, 3] = 1
    np.testing.assert_array_equal(results['gt_occ'], expected)
    assert results['gt_occ_crp'].shape == (2, 2, 1)
    # 1:8 blocks: road (128 voxels each) outnumbers the car (32), the
    # other-structure column (6) and the 255s of the invalid plane
    assert results['gt_occ_crp'][:, :, 0].tolist() == [[7, 7], [7, 7]]


def test_lidar_depth_of_both_views_by_hand(root, tmp_path):
    scan = os.path.join(root, 'data_3d_raw', DRIVE_06, 'velodyne_points',
                        'data', '0000000010.bin')
    # the known point, a farther one on the same left pixel (rectified
    # (2, -2, 20): right pixel 21.4 -> 21) and one behind the camera
    np.array(
        [[9.1, 5.2, 0.8, 0.1], [17.7, 10.4, 1.8, 0.1], [-5.0, 0.0, 0.0, 0.1]],
        dtype=np.float32).tofile(scan)
    out = str(tmp_path / 'depth')
    assert create_data.main([
        'kitti360-lidar-depth', '--data-root', root, '--out-dir', out,
        '--sequences', '06'
    ]) is None
    maps = []
    for view, (u, v) in enumerate(((22, 10), (21, 10))):
        depth = io.read_depth_png(
            os.path.join(out, DRIVE_06, k360.DEPTH_DIRS[view], '000010.png'))
        assert depth.shape == layout.IMG_HW
        expected = np.zeros(layout.IMG_HW, dtype=np.float32)
        expected[v, u] = 10.0  # the nearest return
        np.testing.assert_allclose(depth, expected, atol=1 / 256)
        maps.append(expected)
    # the dataset serves both maps to LoadStereoDepth
    dataset = k360.Kitti360SSCDataset(
        root, split='val', depth_root=out, grid_size=(16, 16, 8))
    results = LoadStereoDepth(
        crop_size=None, num_views=2).transform(dataset.get_data_info(0))
    np.testing.assert_allclose(results['gt_depth'], maps, atol=1 / 256)


def test_missing_scan_is_named(root, tmp_path):
    scan = os.path.join(root, 'data_3d_raw', DRIVE_06, 'velodyne_points',
                        'data', '0000000010.bin')
    os.remove(scan)
    with pytest.raises(FileNotFoundError, match='0000000010.bin not found'):
        create_kitti360_lidar_depth(root, str(tmp_path / 'd'), ['06'])


def _perspective(root):
    return os.path.join(root, 'calibration', 'perspective.txt')


def test_malformed_calibration_is_named(root):
    path = _perspective(root)
    layout.write_perspective(path, p_rect_01=layout.P_RECT_01[:, :3])
    with pytest.raises(
            ValueError, match=r'perspective.txt:18: P_rect_01 has 9 numbers'):
        k360.Kitti360SSCDataset(root, split='val')
    layout.write_perspective(path)
    with open(path) as f:
        kept = [line for line in f if not line.startswith('R_rect_00')]
    with open(path, 'w') as f:
        f.writelines(kept)
    with pytest.raises(ValueError, match='missing calibration key.*R_rect_00'):
        read_calibration(root)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match='perspective.txt'):
        k360.Kitti360SSCDataset(root, split='val')

    layout.write_calibration(root)
    velo = os.path.join(root, 'calibration', 'calib_cam_to_velo.txt')
    with open(velo, 'w') as f:
        f.write('1 0 0 0 0 1 0 0 0 0 1\n')
    with pytest.raises(ValueError, match='calib_cam_to_velo.txt:1: .* has 11'):
        read_calibration(root)
    with open(velo, 'w') as f:
        f.write('2 0 0 0 0 1 0 0 0 0 1 0\n')
    with pytest.raises(ValueError, match='calib_cam_to_velo.txt: .*rotation'):
        read_calibration(root)


def test_malformed_label_files_are_named(root):
    voxel_dir = _voxel_dir(root)
    invalid = os.path.join(voxel_dir, '000010.invalid')
    info = dict(
        label_path=os.path.join(voxel_dir, '000010.label'),
        invalid_path=invalid,
        grid_size=(16, 16, 8))
    load = k360.LoadKitti360Labels()
    # a SemanticKITTI-style bit-packed mask
    io.write_voxel_bits(invalid, np.zeros((16, 16, 8)))
    with pytest.raises(ValueError, match='000010.invalid: .*bit-packed'):
        load.transform(dict(info))
    np.full((16, 16, 8), 2, dtype=np.uint8).tofile(invalid)
    with pytest.raises(ValueError, match='000010.invalid: .*value 2'):
        load.transform(dict(info))
    with open(info['label_path'], 'wb') as f:
        f.write(b'\0' * 10)
    with pytest.raises(ValueError, match='000010.label: label file has 10'):
        load.transform(dict(info))


def test_missing_files_are_named(root):
    voxel_dir = _voxel_dir(root)
    os.remove(os.path.join(voxel_dir, '000010.invalid'))
    with pytest.raises(FileNotFoundError, match='000010.invalid not found'):
        k360.Kitti360SSCDataset(root, split='val')
    os.remove(os.path.join(voxel_dir, '000010.label'))
    with pytest.raises(FileNotFoundError, match='000010.label'):
        k360.Kitti360SSCDataset(root, split='val')
    # served without ground truth in test mode
    dataset = k360.Kitti360SSCDataset(root, split='val', test_mode=True)
    assert dataset.get_data_info(0)['label_path'] is None
    right = os.path.join(root, 'data_2d_raw', DRIVE_06, 'image_01',
                         'data_rect', '000010.png')
    os.remove(right)
    with pytest.raises(FileNotFoundError, match='image_01/data_rect/000010'):
        k360.Kitti360SSCDataset(root, split='val', test_mode=True)
    with pytest.raises(ValueError, match='drive_0009_sync/voxels'):
        k360.Kitti360SSCDataset(root, split='test')


def test_bad_arguments_are_named(root):
    # the checks shared with SemanticKittiSSCDataset (split_sequences,
    # grid_geometry of semantickitti.py)
    with pytest.raises(ValueError, match=r"one of \['test', 'train', 'val'"):
        k360.Kitti360SSCDataset(root, split='trainval')
    with pytest.raises(ValueError, match='num_views must be 1 .* got 3'):
        k360.Kitti360SSCDataset(root, split='val', num_views=3)
    with pytest.raises(ValueError, match=r'grid_size must have 3.*\(16, 16\)'):
        k360.Kitti360SSCDataset(root, split='val', grid_size=(16, 16))
    # explicit drives as numbers, the left view only
    dataset = k360.Kitti360SSCDataset(
        root, split=None, sequences=[6], num_views=1, grid_size=(16, 16, 8))
    assert dataset.sequences == ('06', )
    info = dataset.get_data_info(0)
    assert (info['drive'], info['frame_id']) == (DRIVE_06, '000010')
    assert info['cam2img'].shape == (1, 3, 3)
