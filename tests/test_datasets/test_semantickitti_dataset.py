"""SemanticKittiSSCDataset: frame lists, per-frame info and bad inputs."""
import os

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from projects.OccDepth.occdepth.datasets import SemanticKittiSSCDataset, io


def _dataset(root, **kwargs):
    kwargs.setdefault('grid_size', (16, 16, 8))
    return SemanticKittiSSCDataset(data_root=root, **kwargs)


def _frames(dataset):
    return [(info['sequence'], info['frame_id'])
            for info in (dataset.get_data_info(i)
                         for i in range(len(dataset)))]


def test_splits_list_their_frames(kitti_root):
    assert _frames(_dataset(kitti_root)) == [('00', '000000'),
                                             ('00', '000005')]
    assert _frames(_dataset(kitti_root, split='val')) == [('08', '000010')]
    assert _frames(_dataset(kitti_root,
                            sequences=[8, '00'])) == [('08', '000010'),
                                                      ('00', '000000'),
                                                      ('00', '000005')]
    test = _dataset(kitti_root, split='test', test_mode=True)
    assert _frames(test) == [('11', '000000')]
    info = test.get_data_info(0)
    assert info['label_path'] is None and info['invalid_path'] is None


def test_frame_info(kitti_root, tmp_path):
    dataset = _dataset(
        kitti_root,
        depth_root='/depth',
        label_cache_root='/cache',
        voxel_size=0.4,
        voxel_origin=(0, -3.2, -1.6))
    info = dataset.get_data_info(1)
    seq_dir = os.path.join(kitti_root, 'sequences', '00')
    assert info['img_paths'] == [
        os.path.join(seq_dir, 'image_2', '000005.png'),
        os.path.join(seq_dir, 'image_3', '000005.png')
    ]
    assert info['label_path'] == os.path.join(seq_dir, 'voxels',
                                              '000005.label')
    assert info['invalid_path'] == os.path.join(seq_dir, 'voxels',
                                                '000005.invalid')
    assert info['depth_path'] == '/depth/sequences/00/depth/000005.png'
    assert info['label_cache_prefix'] == '/cache/labels/00/000005'
    assert info['grid_size'] == (16, 16, 8)
    assert info['voxel_size'] == 0.4
    assert info['voxel_origin'] == (0.0, -3.2, -1.6)
    # K = P[:, :3]; T_v = inv(K) P_v Tr: the right camera sits 0.54 m to
    # the left of the left one in camera x.
    k = np.array([[20.0, 0, 17], [0, 20, 11], [0, 0, 1]])
    np.testing.assert_allclose(info['cam2img'], [k, k])
    rot = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])
    np.testing.assert_allclose(info['lidar2cam'][:, :3, :3], [rot, rot])
    np.testing.assert_allclose(info['lidar2cam'][0, :3, 3], [0, -0.08, -0.27])
    np.testing.assert_allclose(
        info['lidar2cam'][1, :3, 3], [-0.54, -0.08, -0.27], atol=1e-12)
    assert dataset.metainfo['classes'][1] == 'car'
    assert dataset.metainfo['ignore_index'] == 255
    assert len(dataset.metainfo['palette']) == 20


def test_build_from_registry(kitti_root):
    from mmdet3d.registry import DATASETS
    init_default_scope('mmdet3d')
    dataset = DATASETS.build(
        dict(
            type='SemanticKittiSSCDataset',
            data_root=kitti_root,
            split='val',
            grid_size=(16, 16, 8)))
    assert isinstance(dataset, SemanticKittiSSCDataset)
    assert len(dataset) == 1


def test_empty_split_names_root_and_sequences(tmp_path):
    with pytest.raises(ValueError) as err:
        _dataset(str(tmp_path), split='val')
    assert str(tmp_path) in str(err.value) and '08' in str(err.value)
    with pytest.raises(ValueError, match='split must be one of'):
        _dataset(str(tmp_path), split='valid')


def test_unlabelled_frames_need_test_mode(kitti_root):
    with pytest.raises(FileNotFoundError, match=r'11/voxels/000000\.label'):
        _dataset(kitti_root, split='test')


def test_missing_calib_and_key(kitti_root):
    calib_path = os.path.join(kitti_root, 'sequences', '08', 'calib.txt')
    calib = io.read_calib(calib_path)
    del calib['P3']
    io.write_calib(calib_path, calib)
    with pytest.raises(ValueError, match=r'calib\.txt.*P3'):
        _dataset(kitti_root, split='val')
    os.remove(calib_path)
    with pytest.raises(FileNotFoundError, match=r'08/calib\.txt'):
        _dataset(kitti_root, split='val')


def test_missing_image(kitti_root):
    os.remove(
        os.path.join(kitti_root, 'sequences', '00', 'image_3', '000005.png'))
    with pytest.raises(FileNotFoundError, match=r'image_3/000005\.png'):
        _dataset(kitti_root)


def test_left_view_only_for_monoscene(kitti_root):
    stereo = _dataset(kitti_root).get_data_info(0)
    mono = _dataset(kitti_root, num_views=1).get_data_info(0)
    assert [os.path.basename(os.path.dirname(p))
            for p in mono['img_paths']] == ['image_2']
    assert mono['cam2img'].shape == (1, 3, 3)
    assert np.array_equal(mono['lidar2cam'][0], stereo['lidar2cam'][0])
    with pytest.raises(ValueError, match='num_views'):
        _dataset(kitti_root, num_views=3)


def test_label_without_invalid_file(kitti_root):
    os.remove(
        os.path.join(kitti_root, 'sequences', '00', 'voxels',
                     '000005.invalid'))
    with pytest.raises(FileNotFoundError, match='000005.invalid'):
        _dataset(kitti_root)
