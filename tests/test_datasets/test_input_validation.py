"""Broken inputs are refused where they are read, naming the file (images,
calibration, depth maps), and label grids without a valid voxel are reported
(training) or refused (evaluation)."""
import json
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from projects.OccDepth.occdepth.datasets import (SemanticKittiSSCDataset, io,
                                                 nyu_io, tartanair,
                                                 voxel_labels)
from projects.OccDepth.occdepth.datasets.transforms.loading import (
    LoadSSCLabels, LoadStereoDepth, LoadStereoImages)
from projects.OccDepth.occdepth.datasets.transforms.nyu_loading import (
    LoadNYUDepth, LoadNYULabels)
from projects.OccDepth.occdepth.datasets.transforms.tartanair_loading import \
    LoadTartanAirDepth
from projects.OccDepth.occdepth.evaluation import SSCMetric

CROP = (20, 36)


def _info(root, index=0, **kwargs):
    dataset = SemanticKittiSSCDataset(
        data_root=root, split='train', grid_size=(16, 16, 8), **kwargs)
    return dataset.get_data_info(index)


@pytest.fixture
def reports(monkeypatch):
    """Messages of the empty-label reporter."""
    messages = []
    monkeypatch.setattr(voxel_labels, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages


# ---------------------------------------------------------------- images


@pytest.mark.parametrize(
    'array, mode, found',
    [(np.full(
        (24, 40), 1000, np.uint16), 'I;16', r'16-bit grayscale \(mode I;16\)'),
     (np.full((24, 40), 7, np.uint8), 'L', r'8-bit grayscale \(mode L\)'),
     (np.full((24, 40, 4), 7, np.uint8), 'RGBA', r'8-bit RGBA \(mode RGBA\)')])
def test_image_mode_other_than_rgb_is_refused(kitti_root, array, mode, found):
    info = _info(kitti_root)
    left = info['img_paths'][0]
    Image.fromarray(array).save(left)
    with Image.open(left) as img:
        assert img.mode == mode  # the PNG really holds this mode
    with pytest.raises(
            ValueError,
            match=r'image_2/000000\.png: expected an 8-bit RGB '
            r'image, found ' + found):
        LoadStereoImages(crop_size=CROP)(info)


def _write_rgb48_png(path, pixels):
    """A 16-bit-per-channel RGB PNG (colour type 2, bit depth 16), which
    Pillow cannot write: signature, IHDR, one IDAT of unfiltered rows, IEND.
    """

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xffffffff
        return struct.pack('>I', len(data)) + kind + data + struct.pack(
            '>I', crc)

    h, w, _ = pixels.shape
    rows = b''.join(b'\x00' + row.astype('>u2').tobytes() for row in pixels)
    header = struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) +
                chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


def test_rgb_image_of_16_bits_per_channel_is_refused(tmp_path):
    path = str(tmp_path / 'rgb48.png')
    _write_rgb48_png(path, np.full((2, 3, 3), 40000, np.uint16))
    with Image.open(path) as img:
        # Pillow reads it as 8-bit RGB: the high bytes, 40000 // 256 = 156
        assert img.mode == 'RGB' and np.asarray(img).max() == 156
    with pytest.raises(
            ValueError,
            match=r'rgb48\.png: expected an 8-bit RGB image, '
            r'found 16-bit RGB'):
        io.read_rgb_image(path)


def test_rgb_image_is_read_exactly(tmp_path):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 14
    path = str(tmp_path / 'rgb.png')
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(io.read_rgb_image(path), pixels)


# ----------------------------------------------------------- calibration


@pytest.mark.parametrize('key, line', [('P2', 3), ('Tr', 5)])
def test_calib_with_nan_is_refused(tmp_path, kitti_helpers, key, line):
    calib = {k: v.copy() for k, v in kitti_helpers.TINY_CALIB.items()}
    calib = dict(P0=calib['P2'].copy(), P1=calib['P2'].copy(), **calib)
    calib[key][1, 3] = np.nan
    path = str(tmp_path / 'calib.txt')
    io.write_calib(path, calib)
    with pytest.raises(
            ValueError,
            match=rf'calib\.txt:{line}: {key} holds 1 non-finite value'):
        io.read_calib(path)


def test_dataset_refuses_nan_calib(kitti_root):
    path = os.path.join(kitti_root, 'sequences', '00', 'calib.txt')
    with open(path) as f:
        lines = f.read().splitlines()
    index = [line.split(':')[0] for line in lines].index('Tr')
    lines[index] = 'Tr: ' + ' '.join(['nan'] + lines[index].split()[2:])
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with pytest.raises(
            ValueError, match=rf'00/calib\.txt:{index + 1}: Tr holds 1 non'):
        SemanticKittiSSCDataset(
            data_root=kitti_root, sequences=['00'], grid_size=(16, 16, 8))


def test_tartanair_meta_with_nan_is_refused(tmp_path):
    meta = dict(
        cam2img=[np.eye(3).tolist()] * 2,
        lidar2cam=[np.eye(4).tolist()] * 2,
        voxel_origin=[0, 0, 0],
        voxel_size=0.1,
        grid_size=[8, 8, 8])
    meta['lidar2cam'][1] = [[float('nan')] * 4] * 4
    path = str(tmp_path / '000000.json')
    with open(path, 'w') as f:
        json.dump(meta, f)  # writes NaN, which json.load reads back
    with pytest.raises(ValueError, match=r'000000\.json: lidar2cam holds'):
        tartanair._read_frame_meta(path)


# ----------------------------------------------------------------- depth


def test_8bit_depth_png_is_refused(tmp_path):
    path = str(tmp_path / 'depth.png')
    Image.fromarray(np.full((4, 5), 200, np.uint8)).save(path)
    with pytest.raises(
            ValueError,
            match=r'depth\.png: expected a single-channel 16-bit '
            r'depth PNG .*found 8-bit grayscale \(mode L\)'):
        io.read_depth_png(path)
    with pytest.raises(
            ValueError,
            match=r'depth\.png: NYU depth PNG must be a single-'
            r'channel 16-bit image, found 8-bit grayscale'):
        nyu_io.read_nyu_depth(path)


def test_16bit_depth_png_values(tmp_path):
    path = str(tmp_path / 'depth.png')
    Image.fromarray(np.array([[0, 256, 65535]], np.uint16)).save(path)
    np.testing.assert_array_equal(
        io.read_depth_png(path), [[0.0, 1.0, 65535 / 256]])


def test_depth_larger_than_image_is_refused_before_crop(
        kitti_root, tmp_path, kitti_helpers):
    depth_root = str(tmp_path / 'depth')
    info = _info(kitti_root, index=1, depth_root=depth_root)
    # 4 rows / 6 columns more than the 24 x 40 images: cropping both to
    # 20 x 36 would hide the mismatch.
    io.write_depth_png(info['depth_path'], np.ones((28, 46), np.float32))
    results = LoadStereoImages(crop_size=CROP)(info)
    with pytest.raises(
            ValueError,
            match=r'000005\.png: depth map of size \(H, W\) = '
            r'\(28, 46\) differs from the image size \(24, 40\)'):
        LoadStereoDepth(crop_size=CROP)(results)


def test_nyu_and_tartanair_depth_checked_against_image_files(tmp_path):
    nyu = str(tmp_path / 'nyu.png')
    nyu_io.write_nyu_depth(nyu, np.ones((6, 8)))
    npy = str(tmp_path / 'depth.npy')
    np.save(npy, np.ones((6, 8), np.float32))
    for loader, path in ((LoadNYUDepth(), nyu), (LoadTartanAirDepth(), npy)):
        same = loader(dict(depth_path=path, ori_shape=(6, 8)))
        np.testing.assert_array_equal(same['gt_depth'], np.ones((6, 8)))
        with pytest.raises(
                ValueError, match=r'differs from the image size \(6, 9\)'):
            loader(dict(depth_path=path, ori_shape=(6, 9)))
        with pytest.raises(ValueError, match='does not crop'):
            loader(dict(depth_path=path, ori_shape=(6, 8), img_shape=(4, 8)))


# --------------------------------------------------- labels without voxels


def _break_labels(root, frame, how):
    """Make every voxel of ``frame`` in sequence 00 invalid or unknown."""
    vox = os.path.join(root, 'sequences', '00', 'voxels', frame)
    grid = (16, 16, 8)
    if how == 'invalid':
        io.write_voxel_bits(f'{vox}.invalid', np.ones(grid, np.uint8))
    else:
        io.write_label(f'{vox}.label', np.full(grid, 999, np.uint16))
    return f'{vox}.label'


@pytest.mark.parametrize(
    'how, reason',
    [('invalid', 'all 2048 voxels are flagged in the .invalid file'),
     ('unknown', 'all 2048 voxels hold raw ids absent from the SemanticKITTI '
      'learning map')])
def test_training_frame_without_valid_voxel_warns(kitti_root, reports, how,
                                                  reason):
    label_path = _break_labels(kitti_root, '000000', how)
    load = LoadSSCLabels()
    results = load(_info(kitti_root))
    assert (results['gt_occ'] == 255).all()
    assert reports == [
        f'{label_path}: no voxel to learn from ({reason}); every voxel is '
        f'ignored (255). 1 such frame(s) so far in this process'
    ]
    load(_info(kitti_root, index=1))  # a valid frame: nothing to report
    load(_info(kitti_root))  # the same file again: reported once
    assert len(reports) == 1


def test_empty_label_reporter_does_not_flood(reports):
    reporter = voxel_labels.EmptyLabelReporter(max_listed=2)
    empty = np.full((2, 2, 2), 255, np.uint8)
    valid = empty.copy()
    valid[0, 0, 0] = 0
    assert not reporter.check(valid, 'valid', lambda: 'unused')
    for i in range(9):
        assert reporter.check(empty, f'f{i}', lambda: 'why')
    assert reporter.check(empty, 'f0', lambda: 'why')  # seen: not counted
    # Files 1 and 2 one by one, then only the counts 4 and 8.
    assert [m.split(':')[0] for m in reports] == ['f0', 'f1', 'f3', 'f7']
    assert 'further ones are reported at the counts 4, 8, ...' in reports[1]
    assert '8 such frame(s) so far' in reports[3]
    assert reporter.count == 9


def test_nyu_frame_without_labelled_voxel_warns(tmp_path, reports):
    path = str(tmp_path / 'NYU0001_0000.bin')
    nyu_io.write_nyu_bin(path, (0, 0, 0), np.eye(4),
                         np.full(nyu_io.NYU_FULL_GRID, 255, np.uint8))
    results = LoadNYULabels(crp_factor=None)(
        dict(bin_path=path, grid_size=(60, 36, 60)))
    assert (results['gt_occ'] == 255).all()
    assert reports == [
        f'{path}: no voxel to learn from (every voxel of the (60, 36, 60) '
        f'target is 255 (not labelled)); every voxel is ignored (255). 1 '
        f'such frame(s) so far in this process'
    ]


@pytest.mark.parametrize('how', ['invalid', 'unknown'])
def test_metric_refuses_split_without_valid_voxel(kitti_root, reports, how):
    for frame in ('000000', '000005'):
        _break_labels(kitti_root, frame, how)
    load = LoadSSCLabels()
    metric = SSCMetric(num_classes=20)
    for index in range(2):
        gt = load(_info(kitti_root, index=index))['gt_occ']
        metric.process({}, [
            dict(
                gt_occ=torch.from_numpy(gt),
                pred_occ=torch.zeros(gt.shape, dtype=torch.long))
        ])
    assert len(reports) == 2
    with pytest.raises(
            ValueError,
            match=r'nothing to evaluate: the ground truth of the 2 evaluated '
            r'frame\(s\) is ignore_index \(255\) at every voxel'):
        metric.evaluate(2)
