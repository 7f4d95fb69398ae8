"""Voxel files, label remapping and majority downsampling, checked by hand."""
import numpy as np
import pytest

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.voxel_labels import (
    downsample_labels, labels_at_scales, read_kitti_labels, remap_kitti_labels)


def test_bit_packed_bytes_decode_msb_first(tmp_path):
    path = str(tmp_path / 'a.invalid')
    np.array([0b10000001, 0b01000000], dtype=np.uint8).tofile(path)
    bits = io.read_voxel_bits(path, (2, 2, 4))
    flat = bits.reshape(-1)
    assert np.flatnonzero(flat).tolist() == [0, 7, 9]
    # C order: flat index 7 is voxel (0, 1, 3), index 9 is (1, 0, 1).
    assert bits[0, 0, 0] == 1 and bits[0, 1, 3] == 1 and bits[1, 0, 1] == 1
    io.write_voxel_bits(str(tmp_path / 'b.invalid'), bits)
    assert (tmp_path / 'b.invalid').read_bytes() == bytes([0x81, 0x40])


def test_remap_by_hand():
    raw = np.array([0, 10, 252, 52, 999, 40, 1, 99, 81, 258, 10],
                   dtype=np.uint16)
    invalid = np.zeros_like(raw, dtype=np.uint8)
    invalid[-1] = 1
    labels, num_unknown = remap_kitti_labels(raw, invalid)
    assert labels.dtype == np.uint8
    assert labels.tolist() == [0, 1, 1, 255, 255, 9, 255, 255, 19, 4, 255]
    assert num_unknown == 1
    labels, _ = remap_kitti_labels(raw)
    assert labels[-1] == 1


def test_remap_rejects_mismatched_invalid():
    with pytest.raises(ValueError, match='invalid mask shape'):
        remap_kitti_labels(np.zeros(8, np.uint16), np.zeros(4, np.uint8))


def _block_grid(blocks, factor):
    """Stack flat blocks along x into a ``(n * f, f, f)`` grid."""
    grid = np.zeros((len(blocks) * factor, factor, factor), dtype=np.uint8)
    rng = np.random.RandomState(0)
    for i, values in enumerate(blocks):
        values = np.asarray(values, dtype=np.uint8)
        assert values.size == factor**3
        grid[i * factor:(i + 1) * factor] = rng.permutation(values).reshape(
            factor, factor, factor)
    return grid


def test_majority_2x2x2_by_hand():
    blocks = [
        [0] * 8,  # all empty -> 0
        [255] * 8,  # all ignored -> 255
        [0] * 4 + [255] * 4,  # 8 > 7.6, #0 == #255 -> 255
        [0] * 5 + [255] * 3,  # #0 > #255 -> 0
        [0] * 7 + [5],  # 7 <= 7.6: the single class voxel wins
        [0] * 4 + [3, 3, 7, 7],  # tie between 3 and 7 -> 3
        [255] * 3 + [3, 3, 7, 7, 7],  # 7 is more frequent
        [7, 7, 3, 3, 12, 12, 0, 255],  # three-way tie -> 3
    ]
    out = downsample_labels(_block_grid(blocks, 2), 2)
    assert out.shape == (len(blocks), 1, 1)
    assert out.reshape(-1).tolist() == [0, 255, 255, 0, 5, 3, 7, 3]


def test_majority_8x8x8_by_hand():
    blocks = [
        [0] * 487 + [4] * 25,  # 487 > 486.4 -> empty
        [0] * 486 + [4] * 26,  # 486 <= 486.4 -> class 4
        [0] * 300 + [255] * 200 + [2] * 12,  # mostly empty, #0 > #255
        [0] * 200 + [255] * 300 + [2] * 12,  # mostly ignored -> 255
        [0] * 480 + [6] * 16 + [2] * 16,  # tie -> 2
        [255] * 400 + [9] * 50 + [1] * 62,  # 1 is the majority class
    ]
    out = downsample_labels(_block_grid(blocks, 8), 8)
    assert out.reshape(-1).tolist() == [0, 4, 0, 255, 2, 1]


def _loop_reference(labels, f):
    """Block-by-block implementation of the rule, for comparison."""
    out = np.zeros([n // f for n in labels.shape], dtype=np.uint8)
    for idx in np.ndindex(*out.shape):
        block = labels[tuple(slice(i * f, (i + 1) * f) for i in idx)]
        block = block.reshape(-1)
        n0, n255 = np.sum(block == 0), np.sum(block == 255)
        if n0 + n255 > 0.95 * f**3:
            out[idx] = 0 if n0 > n255 else 255
        else:
            cls = block[(block > 0) & (block < 255)]
            out[idx] = np.argmax(np.bincount(cls))
    return out


@pytest.mark.parametrize('factor', [2, 4])
def test_majority_matches_block_loop(factor):
    rng = np.random.RandomState(factor)
    # Mostly empty/ignored with sparse classes, so both branches occur.
    labels = rng.choice([0, 0, 0, 0, 255, 255, 1, 3, 19],
                        size=(8, 16, 8)).astype(np.uint8)
    labels[:4, :4, :4] = 0
    labels[4:8, :4, :4] = 255
    np.testing.assert_array_equal(
        downsample_labels(labels, factor), _loop_reference(labels, factor))


def test_labels_at_scales_and_errors():
    labels = np.zeros((16, 16, 8), dtype=np.uint8)
    labels[:8, :8, :] = 13
    scales = labels_at_scales(labels)
    assert sorted(scales) == ['1_1', '1_2', '1_8']
    assert scales['1_1'] is not labels
    np.testing.assert_array_equal(scales['1_1'], labels)
    assert scales['1_2'].shape == (8, 8, 4)
    assert scales['1_8'].reshape(-1).tolist() == [13, 0, 0, 0]
    with pytest.raises(ValueError, match='not divisible'):
        downsample_labels(np.zeros((6, 8, 8), np.uint8), 4)
    with pytest.raises(ValueError, match='uint8'):
        downsample_labels(np.zeros((8, 8, 8), np.int64), 2)


def test_read_kitti_labels_and_truncated_files(tmp_path, kitti_helpers):
    raw, invalid = kitti_helpers.fixture_labels()
    grid = kitti_helpers.GRID
    label_path = str(tmp_path / '000000.label')
    invalid_path = str(tmp_path / '000000.invalid')
    io.write_label(label_path, raw)
    io.write_voxel_bits(invalid_path, invalid)
    labels, num_unknown = read_kitti_labels(label_path, invalid_path, grid)
    np.testing.assert_array_equal(labels, kitti_helpers.expected_labels())
    assert num_unknown == 1

    data = open(label_path, 'rb').read()
    with open(label_path, 'wb') as f:
        f.write(data[:-2])
    with pytest.raises(ValueError, match=r'000000\.label'):
        read_kitti_labels(label_path, invalid_path, grid)
    io.write_label(label_path, raw)
    data = open(invalid_path, 'rb').read()
    with open(invalid_path, 'wb') as f:
        f.write(data[:-1])
    with pytest.raises(ValueError, match=r'000000\.invalid'):
        read_kitti_labels(label_path, invalid_path, grid)
