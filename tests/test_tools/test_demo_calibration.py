"""demo/ssc_demo.py refuses a non-finite calibration before writing
anything."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from projects.OccDepth.occdepth.datasets import io

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'occdepth_demo.py')


@pytest.fixture(scope='module')
def demo():
    path = osp.join(ROOT, 'demo', 'ssc_demo.py')
    spec = importlib.util.spec_from_file_location('ssc_demo_calib', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('key, line', [('P2', 2), ('Tr', 4)])
def test_nan_calib_refused_before_any_output(demo, tmp_path, key, line):
    images = []
    for view in ('left', 'right'):
        images.append(str(tmp_path / f'{view}.png'))
        Image.fromarray(np.zeros((96, 320, 3), np.uint8)).save(images[-1])
    proj = np.array([[185.0, 0, 157, 0], [0, 183, 47, 0], [0, 0, 1, 0]])
    calib = dict(
        P0=proj.copy(),
        P2=proj.copy(),
        P3=proj - [[0, 0, 0, 100], [0, 0, 0, 0], [0, 0, 0, 0]],
        Tr=np.array([[0.0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]]))
    calib[key][2, 3] = np.nan  # not an intrinsics entry
    calib_path = str(tmp_path / 'calib.txt')
    io.write_calib(calib_path, calib)
    checkpoint = tmp_path / 'never_read.pth'
    checkpoint.write_bytes(b'')
    out_dir = tmp_path / 'out'
    with pytest.raises(
            ValueError,
            match=rf'calib\.txt:{line}: {key} holds 1 non-finite value'):
        demo.main(images + [
            calib_path, CONFIG,
            str(checkpoint), '--out-dir',
            str(out_dir), '--device', 'cpu'
        ])
    assert not out_dir.exists()


@pytest.mark.parametrize('intrinsics, baseline, match', [
    ((185, 183, float('nan'), 47), 0.54, 'non-finite'),
    ((185, 183, 157, 47), float('inf'), '--baseline must be a positive, '
     'finite'),
    ((185, 183, 157, 47), float('nan'), '--baseline must be a positive'),
])
def test_intrinsics_arguments_must_be_finite(demo, intrinsics, baseline,
                                             match):
    with pytest.raises(ValueError, match=match):
        demo.calibration_from_intrinsics(intrinsics, baseline)
