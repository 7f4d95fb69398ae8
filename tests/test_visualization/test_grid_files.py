"""Reading grid files of every format for tools/visualize.py."""
import os

import numpy as np
import pytest
from mmengine.config import Config

from projects.OccDepth.occdepth.datasets.io import (write_label,
                                                    write_voxel_bits)
from projects.OccDepth.occdepth.datasets.label_maps import (
    NYU_PALETTE, SEMANTICKITTI_PALETTE, semantickitti_inverse_lut)
from projects.OccDepth.occdepth.datasets.nyu_io import (NYU_FULL_GRID,
                                                        write_nyu_bin)
from projects.OccDepth.occdepth.visualization.grid_files import (
    read_grid, style_from_config, style_from_name)

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRID = (16, 16, 4)
KITTI = style_from_name('semantickitti', grid_size=GRID)


def _raw_scene():
    raw = np.zeros(GRID, dtype=np.uint16)
    raw[:, :, 0] = 40  # road -> 9
    raw[4, 5, 1] = 10  # car -> 1
    raw[6, 6, 1] = 52  # other-structure -> ignored
    raw[7, 7, 1] = 1234  # not a SemanticKITTI id -> ignored
    return raw


def test_ground_truth_label_with_invalid(tmp_path):
    write_label(str(tmp_path / 'gt.label'), _raw_scene())
    invalid = np.zeros(GRID, dtype=np.uint8)
    invalid[0, 0, 0] = 1
    write_voxel_bits(str(tmp_path / 'gt.invalid'), invalid)
    labels = read_grid(
        str(tmp_path / 'gt.label'), KITTI, str(tmp_path / 'gt.invalid'))
    assert labels.dtype == np.uint8 and labels.shape == GRID
    assert labels[4, 5, 1] == 1 and labels[3, 3, 0] == 9
    assert labels[6, 6, 1] == 255 and labels[7, 7, 1] == 255
    assert labels[0, 0, 0] == 255  # flagged invalid
    assert labels[1, 1, 1] == 0
    assert np.count_nonzero(labels == 9) == 16 * 16 - 1


def test_prediction_label_maps_back_to_training_ids(tmp_path):
    train = np.random.RandomState(0).randint(0, 20, GRID).astype(np.uint8)
    write_label(
        str(tmp_path / 'pred.label'),
        semantickitti_inverse_lut()[train])
    np.testing.assert_array_equal(
        read_grid(str(tmp_path / 'pred.label'), KITTI), train)


def test_sizes_that_do_not_fit_the_grid(tmp_path):
    path = str(tmp_path / 'small.label')
    write_label(path, np.zeros((8, 8, 4)))
    with pytest.raises(
            ValueError,
            match='small.label: 512 bytes do not fit '
            r'the grid \(16, 16, 4\), which needs 2048 bytes'):
        read_grid(path, KITTI)
    write_label(path, np.zeros(GRID))
    write_voxel_bits(str(tmp_path / 'bad.invalid'), np.zeros(8))
    with pytest.raises(ValueError, match='bad.invalid: 1 bytes do not fit'):
        read_grid(path, KITTI, str(tmp_path / 'bad.invalid'))
    np.save(tmp_path / 'a.npy', np.zeros((16, 16, 2), np.uint8))
    with pytest.raises(
            ValueError,
            match=r'a.npy: array of shape \(16, 16, '
            r'2\) does not fit the grid \(16, 16, 4\)'):
        read_grid(str(tmp_path / 'a.npy'), KITTI)
    np.save(tmp_path / 'b.npy', np.full(GRID, 20, np.uint8))
    with pytest.raises(
            ValueError,
            match='b.npy: holds label 20 but '
            'semantickitti has only 20 classes'):
        read_grid(str(tmp_path / 'b.npy'), KITTI)
    with pytest.raises(ValueError, match="unknown grid format '.txt'"):
        open(tmp_path / 'c.txt', 'w').close()
        read_grid(str(tmp_path / 'c.txt'), KITTI)


def test_nyu_bin_is_mapped_and_pooled(tmp_path):
    raw = np.zeros(NYU_FULL_GRID, dtype=np.uint8)
    raw[4:8, 0:4, 8:12] = 5  # raw 5 (chair of the 37) -> 11 (objects)
    raw[0:4, 4:8, 0:4] = 255
    path = str(tmp_path / 'NYU0001_0000.bin')
    write_nyu_bin(path, (0, 0, 0), np.eye(4), raw.reshape(-1))
    labels = read_grid(path, style_from_name('nyu'))
    assert labels.shape == (60, 36, 60)
    assert labels[1, 0, 2] == 11 and labels[0, 1, 0] == 255
    assert np.count_nonzero(labels) == 2
    assert len(style_from_name('nyu').palette) == len(NYU_PALETTE)


def test_style_from_config_takes_the_model_grid():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'occdepth_demo.py'))
    style = style_from_config(cfg)
    assert style.name == 'semantickitti'
    assert style.grid_size == (128, 128, 16) and style.voxel_size == 0.4
    assert style.origin == (0.0, -25.6, -2.0)
    assert style.palette == SEMANTICKITTI_PALETTE
    assert style_from_config(cfg, grid_size=GRID).grid_size == GRID
    nyu = style_from_config(
        Config.fromfile(os.path.join(ROOT, 'configs', 'occdepth_nyu.py')))
    assert (nyu.name, nyu.grid_size, nyu.up_axis) == ('nyu', (60, 36, 60), 1)
