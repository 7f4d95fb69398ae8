"""Loading, augmentation and packing transforms of the stereo SSC pipeline."""
import os

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from PIL import Image

from projects.OccDepth.occdepth.datasets import SemanticKittiSSCDataset
from projects.OccDepth.occdepth.datasets.transforms import (
    LoadSSCLabels, LoadStereoDepth, LoadStereoImages, PackSSCInputs,
    RandomStereoFlip, StereoPhotoMetricDistortion, loading)
from projects.OccDepth.occdepth.models.utils.geometry import (
    build_lidar2img, horizontal_flip_matrix, project_points)

CROP = (20, 36)


def _info(root, split='train', index=0, **kwargs):
    dataset = SemanticKittiSSCDataset(
        data_root=root,
        split=split,
        grid_size=(16, 16, 8),
        test_mode=split == 'test',
        **kwargs)
    return dataset.get_data_info(index)


def _expected_1_8():
    # Road fills z < 2 for y < 8 (128 of 512 voxels per block): class 9;
    # blocks with y >= 8 are empty apart from the x = 15 invalid plane.
    return np.array([9, 0, 9, 0], dtype=np.uint8).reshape(2, 2, 1)


def test_load_stereo_images_crop(kitti_root, kitti_helpers):
    results = LoadStereoImages(crop_size=CROP)(_info(kitti_root, index=1))
    assert results['img_shape'] == CROP
    assert results['ori_shape'] == kitti_helpers.IMG_HW
    assert results['num_views'] == 2
    for view, img in enumerate(results['imgs']):
        assert img.dtype == np.uint8 and img.shape == (*CROP, 3)
        np.testing.assert_array_equal(
            img,
            kitti_helpers.fixture_image(100 + view)[:CROP[0], :CROP[1]])
    full = LoadStereoImages(crop_size=None)(_info(kitti_root))
    assert full['img_shape'] == kitti_helpers.IMG_HW


def test_load_stereo_images_errors(kitti_root):
    info = _info(kitti_root)
    left, right = info['img_paths']
    with pytest.raises(ValueError, match=r'image_2/000000\.png.*smaller'):
        LoadStereoImages(crop_size=(25, 36))(dict(info))
    Image.fromarray(np.zeros((24, 41, 3), np.uint8)).save(right)
    with pytest.raises(ValueError, match=r'image_3/000000\.png.*same size'):
        LoadStereoImages(crop_size=CROP)(dict(info))
    with open(right, 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(ValueError, match=r'image_3/000000\.png'):
        LoadStereoImages(crop_size=CROP)(dict(info))
    os.remove(left)
    with pytest.raises(FileNotFoundError, match=r'image_2/000000\.png'):
        LoadStereoImages(crop_size=CROP)(dict(info))


def test_load_ssc_labels(kitti_root, kitti_helpers, monkeypatch):
    warnings = []
    monkeypatch.setattr(loading, 'print_log',
                        lambda msg, **kwargs: warnings.append(msg))
    results = LoadSSCLabels()(_info(kitti_root))
    gt = kitti_helpers.expected_labels()
    np.testing.assert_array_equal(results['gt_occ'], gt)
    assert results['gt_occ'].dtype == np.uint8
    np.testing.assert_array_equal(results['gt_occ_crp'], _expected_1_8())
    assert sorted(k for k in results
                  if k.startswith('gt_')) == ['gt_occ', 'gt_occ_crp']
    assert len(warnings) == 1 and '1 voxels' in warnings[0]
    assert '000000.label' in warnings[0]
    gt_1_2 = LoadSSCLabels(crp_factor=2)(_info(kitti_root))['gt_occ_crp']
    assert gt_1_2.shape == (8, 8, 4) and gt_1_2.dtype == np.uint8
    assert gt_1_2[0, 0, 0] == 9  # road
    assert gt_1_2[2, 2, 1] == 1  # the car block x 4:6, y 4:6, z 2:4
    assert gt_1_2[0, 0, 3] == 0  # 7 empty + 1 ignored (raw 999)
    assert gt_1_2[7, 0, 0] == 9  # 4 road + 4 invalid
    assert gt_1_2[7, 5, 2] == 255  # 4 empty + 4 invalid: tie -> 255

    test_info = _info(kitti_root, split='test')
    results = LoadSSCLabels()(test_info)
    assert not any(key.startswith('gt_occ') for key in results)


def test_load_stereo_depth(kitti_root, tmp_path, kitti_helpers):
    load_images = LoadStereoImages(crop_size=CROP)
    info = _info(kitti_root, index=1, depth_root=str(tmp_path / 'depth'))
    results = LoadStereoDepth(crop_size=CROP)(load_images(info))
    assert results['gt_depth'].dtype == np.float32
    assert results['gt_depth'].shape == CROP
    u = np.arange(CROP[1])
    np.testing.assert_allclose(results['gt_depth'][3], (u + 1) / 4 + 1)

    with pytest.raises(ValueError, match=r'000005\.png.*differs'):
        LoadStereoDepth(crop_size=(20, 30))(load_images(dict(info)))
    with pytest.raises(ValueError, match=r'000005\.png.*smaller'):
        LoadStereoDepth(crop_size=(30, 36))(dict(info))
    info = _info(kitti_root, index=1, depth_root=str(tmp_path / 'none'))
    with pytest.raises(FileNotFoundError, match=r'none/.*000005\.png'):
        LoadStereoDepth(crop_size=CROP)(load_images(info))
    with pytest.raises(ValueError, match='depth_root'):
        LoadStereoDepth(crop_size=CROP)(load_images(_info(kitti_root)))


def test_photometric_identity_and_grayscale(kitti_helpers):
    imgs = [kitti_helpers.fixture_image(i) for i in range(2)]
    identity = StereoPhotoMetricDistortion(
        brightness=0, contrast=0, saturation=0)
    out = identity(dict(imgs=[img.copy() for img in imgs]))['imgs']
    for a, b in zip(out, imgs):
        np.testing.assert_array_equal(a, b)
    gray = StereoPhotoMetricDistortion(grayscale_prob=1.0)
    for img in gray(dict(imgs=imgs))['imgs']:
        assert img.dtype == np.uint8 and img.shape == imgs[0].shape
        np.testing.assert_array_equal(img[..., 0], img[..., 1])
        np.testing.assert_array_equal(img[..., 0], img[..., 2])


def test_photometric_brightness_per_view(kitti_helpers):
    # Values <= 150 never saturate at factor 1.4.
    imgs = [kitti_helpers.fixture_image(i) // 2 + 20 for i in range(2)]
    aug = StereoPhotoMetricDistortion(brightness=0.4, contrast=0, saturation=0)
    np.random.seed(3)
    out = aug(dict(imgs=[img.copy() for img in imgs]))['imgs']
    factors = []
    for img, res in zip(imgs, out):
        factor = res.astype(float).sum() / img.astype(float).sum()
        assert 0.6 - 1e-2 <= factor <= 1.4 + 1e-2
        np.testing.assert_allclose(res, img * factor, atol=1.01)
        factors.append(factor)
    assert abs(factors[0] - factors[1]) > 1e-3  # drawn independently
    np.random.seed(3)
    again = aug(dict(imgs=[img.copy() for img in imgs]))['imgs']
    for a, b in zip(out, again):
        np.testing.assert_array_equal(a, b)


def test_gaussian_blur_by_hand():
    img = np.zeros((7, 7, 3), dtype=np.uint8)
    img[3, 3] = 200
    blur = StereoPhotoMetricDistortion(
        brightness=0,
        contrast=0,
        saturation=0,
        blur_prob=1.0,
        blur_sigma=(1.0, 1.0))
    out = blur(dict(imgs=[img]))['imgs'][0]
    # 1D kernel exp(-x^2 / 2) / sum = (0.2741, 0.4519, 0.2741).
    assert out[3, 3, 0] == 41  # 200 * 0.4519^2 = 40.8
    assert out[3, 2, 0] == 25  # 200 * 0.4519 * 0.2741 = 24.8
    assert out[2, 2, 0] == 15  # 200 * 0.2741^2 = 15.0
    assert out[1, 3, 0] == 0 and out.sum() == 3 * (41 + 4 * 25 + 4 * 15)
    flat = np.full((7, 7, 3), 90, dtype=np.uint8)
    np.testing.assert_array_equal(blur(dict(imgs=[flat]))['imgs'][0], flat)


def test_flip_matches_projection(kitti_helpers):
    calib = kitti_helpers.TINY_CALIB
    h, w = kitti_helpers.IMG_HW
    cam2img = np.stack([calib['P2'][:, :3], calib['P3'][:, :3]])
    lidar2cam = np.tile(np.eye(4), (2, 1, 1))
    lidar2cam[:, :3] = calib['Tr']
    lidar2cam[1, 0, 3] -= kitti_helpers.BASELINE
    # Camera-0 point (-1, 0.5, 10): left pixel (15, 12); right
    # u = 20 * (-1 - 0.54) / 10 + 17 = 13.92.
    point = torch.tensor([[10.27, 1.0, -0.58]], dtype=torch.float64)

    def project(ida_mat):
        l2i = build_lidar2img(
            torch.from_numpy(cam2img), torch.from_numpy(lidar2cam),
            torch.from_numpy(ida_mat).expand(2, 3, 3))
        return project_points(point, l2i[None])[0][0, :, 0].numpy()

    uv = project(np.eye(3))
    np.testing.assert_allclose(uv, [[15, 12], [13.92, 12]], atol=1e-9)
    imgs = []
    for view in range(2):
        img = np.zeros((h, w, 3), dtype=np.uint8)
        u, v = np.round(uv[view]).astype(int)
        img[v, u] = 255
        imgs.append(img)
    depth = kitti_helpers.fixture_depth(0)
    results = RandomStereoFlip(prob=1.0)(
        dict(imgs=imgs, gt_depth=depth.copy()))
    assert results['flip'] is True
    np.testing.assert_array_equal(results['ida_mat'],
                                  horizontal_flip_matrix(w))
    uv_flip = project(results['ida_mat'])
    np.testing.assert_allclose(uv_flip[:, 0], w - 1 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(uv_flip[:, 1], uv[:, 1], atol=1e-9)
    for view, img in enumerate(results['imgs']):
        v, u = np.argwhere(img[..., 0] == 255)[0]
        assert (u, v) == (w - 1 - round(uv[view, 0]), 12)
        assert (u, v) == tuple(np.round(uv_flip[view]).astype(int))
    np.testing.assert_array_equal(results['gt_depth'], depth[:, ::-1])

    kept = RandomStereoFlip(prob=0.0)(dict(imgs=[img.copy() for img in imgs]))
    assert kept['flip'] is False
    np.testing.assert_array_equal(kept['ida_mat'], np.eye(3))
    np.testing.assert_array_equal(kept['imgs'][0], imgs[0])


def test_flip_one_draw_for_all_views():
    left = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    flip = RandomStereoFlip(prob=0.5)
    seen = set()
    np.random.seed(0)
    for _ in range(20):
        res = flip(dict(imgs=[left.copy(), left.copy() + 100]))
        flipped = [
            np.array_equal(res['imgs'][0], left[:, ::-1]),
            np.array_equal(res['imgs'][1], left[:, ::-1] + 100)
        ]
        assert flipped[0] == flipped[1] == res['flip']
        seen.add(res['flip'])
    assert seen == {True, False}


def _pipeline(flip_prob=1.0, photometric=True, depth=True):
    pipeline = [
        dict(type='LoadStereoImages', crop_size=CROP),
        dict(type='LoadSSCLabels')
    ]
    if depth:
        pipeline.append(dict(type='LoadStereoDepth', crop_size=CROP))
    if photometric:
        pipeline.append(dict(type='StereoPhotoMetricDistortion'))
    pipeline += [
        dict(type='RandomStereoFlip', prob=flip_prob),
        dict(type='PackSSCInputs')
    ]
    return pipeline


def test_full_pipeline(kitti_root, tmp_path, kitti_helpers):
    init_default_scope('mmdet3d')
    dataset = SemanticKittiSSCDataset(
        data_root=kitti_root,
        grid_size=(16, 16, 8),
        depth_root=str(tmp_path / 'depth'),
        pipeline=_pipeline(photometric=False))
    packed = dataset[1]
    imgs = packed['inputs']['imgs']
    assert imgs.dtype == torch.uint8 and imgs.shape == (2, 3, *CROP)
    for view in range(2):
        expected = kitti_helpers.fixture_image(100 + view)
        expected = expected[:CROP[0], :CROP[1]][:, ::-1].transpose(2, 0, 1)
        np.testing.assert_array_equal(imgs[view].numpy(), expected)

    sample = packed['data_samples']
    assert sample.gt_occ.dtype == torch.uint8
    np.testing.assert_array_equal(sample.gt_occ.numpy(),
                                  kitti_helpers.expected_labels())
    np.testing.assert_array_equal(sample.gt_occ_crp.numpy(), _expected_1_8())
    assert not any(key.startswith('gt_occ_1_') for key in sample.keys())
    assert sample.gt_depth.dtype == torch.float32
    u = np.arange(CROP[1])
    np.testing.assert_allclose(sample.gt_depth[0].numpy(),
                               ((u + 1) / 4 + 1)[::-1])

    meta = sample.metainfo
    assert meta['flip'] is True
    np.testing.assert_array_equal(meta['ida_mat'],
                                  horizontal_flip_matrix(CROP[1]))
    assert meta['cam2img'].shape == (2, 3, 3)
    assert meta['lidar2cam'].shape == (2, 4, 4)
    assert meta['img_shape'] == CROP
    assert meta['grid_size'] == (16, 16, 8)
    assert meta['voxel_size'] == 0.2
    assert meta['voxel_origin'] == (0.0, -25.6, -2.0)
    assert (meta['sequence'], meta['frame_id']) == ('00', '000005')
    assert 'img_paths' not in meta

    # With the photometric distortion only the colours change.
    dataset.pipeline = dataset.pipeline.__class__(_pipeline())
    augmented = dataset[1]
    assert augmented['inputs']['imgs'].shape == imgs.shape
    assert augmented['inputs']['imgs'].dtype == torch.uint8
    np.testing.assert_array_equal(augmented['data_samples'].gt_occ.numpy(),
                                  kitti_helpers.expected_labels())


def test_test_split_has_no_gt(kitti_root):
    init_default_scope('mmdet3d')
    dataset = SemanticKittiSSCDataset(
        data_root=kitti_root,
        split='test',
        test_mode=True,
        grid_size=(16, 16, 8),
        pipeline=_pipeline(flip_prob=0.0, photometric=False, depth=False))
    packed = dataset[0]
    assert packed['inputs']['imgs'].shape == (2, 3, *CROP)
    sample = packed['data_samples']
    for key in ('gt_occ', 'gt_occ_crp', 'gt_depth'):
        assert key not in sample
    assert sample.metainfo['flip'] is False
    np.testing.assert_array_equal(sample.metainfo['ida_mat'], np.eye(3))
    assert sample.metainfo['sequence'] == '11'


def test_pack_without_flip_defaults(kitti_helpers):
    packed = PackSSCInputs()(
        dict(imgs=[kitti_helpers.fixture_image(0)], frame_id='000001'))
    assert packed['inputs']['imgs'].shape == (1, 3, *kitti_helpers.IMG_HW)
    meta = packed['data_samples'].metainfo
    assert meta['flip'] is False and meta['frame_id'] == '000001'
    np.testing.assert_array_equal(meta['ida_mat'], np.eye(3))
