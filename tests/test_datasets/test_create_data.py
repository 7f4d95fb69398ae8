"""tools/create_data.py kitti: the label cache and its use by the loader."""
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

from projects.OccDepth.occdepth.datasets import SemanticKittiSSCDataset
from projects.OccDepth.occdepth.datasets.transforms import LoadSSCLabels

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'create_data.py')


def _main():
    return runpy.run_path(TOOL)['main']


def test_cache_files(kitti_root, tmp_path, kitti_helpers, capsys):
    out = str(tmp_path / 'cache')
    _main()([
        'kitti', '--data-root', kitti_root, '--out-dir', out, '--sequences',
        '0', '08', '11', '--grid-size', '16', '16', '8'
    ])
    printed = capsys.readouterr().out
    assert '3/3 frames' in printed and 'frames/s' in printed
    assert '1 voxels hold raw ids absent' in printed
    assert sorted(os.listdir(os.path.join(out, 'labels'))) == ['00', '08']
    names = sorted(os.listdir(os.path.join(out, 'labels', '00')))
    assert names == [
        f'{frame}_1_{f}.npy' for frame in ('000000', '000005')
        for f in (1, 2, 8)
    ]
    full = np.load(os.path.join(out, 'labels', '08', '000010_1_1.npy'))
    assert full.dtype == np.uint8
    np.testing.assert_array_equal(full, kitti_helpers.expected_labels())
    coarse = np.load(os.path.join(out, 'labels', '08', '000010_1_8.npy'))
    assert coarse.dtype == np.uint8
    assert coarse.reshape(-1).tolist() == [9, 0, 9, 0]
    assert np.load(os.path.join(out, 'labels', '08',
                                '000010_1_2.npy')).shape == (8, 8, 4)

    # The loader reads the cache and gives the same targets as the raw
    # files.
    def load(**kwargs):
        dataset = SemanticKittiSSCDataset(
            data_root=kitti_root, split='val', grid_size=(16, 16, 8), **kwargs)
        return LoadSSCLabels()(dataset.get_data_info(0))

    cached, raw = load(label_cache_root=out), load()
    for key in ('gt_occ', 'gt_occ_crp'):
        np.testing.assert_array_equal(cached[key], raw[key])

    np.save(
        os.path.join(out, 'labels', '08', '000010_1_8.npy'),
        np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r'000010_1_8\.npy.*create_data'):
        load(label_cache_root=out)
    with pytest.raises(FileNotFoundError, match=r'elsewhere.*000010_1_1'):
        load(label_cache_root=str(tmp_path / 'elsewhere'))


def test_no_labels_is_an_error(kitti_root):
    with pytest.raises(ValueError, match='no .label files'):
        _main()([
            'kitti', '--data-root', kitti_root, '--out-dir', '/nonexistent',
            '--sequences', '11'
        ])


def test_runs_as_a_script(tmp_path):
    # From another folder: the tool puts the repository root on sys.path.
    result = subprocess.run([sys.executable, TOOL, 'kitti', '--help'],
                            cwd=str(tmp_path),
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert '--data-root' in result.stdout
