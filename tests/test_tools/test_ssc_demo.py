"""Tests of demo/ssc_demo.py on a synthetic stereo pair.

One frame of tools/create_synthetic_kitti.py (96 x 320 images, 128 x 128 x 16
voxels of 0.4 m, the geometry of configs/occdepth_demo.py) and a checkpoint
of the freshly built, untrained demo model.
"""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from PIL import Image

import projects.OccDepth.occdepth  # noqa: F401
from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.label_maps import \
    semantickitti_inverse_lut
from projects.OccDepth.occdepth.datasets.semantickitti import \
    SemanticKittiSSCDataset
from projects.OccDepth.occdepth.models.utils import geometry

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'occdepth_demo.py')
GRID = (128, 128, 16)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on the shared 2-core machine two threads that
    wait for each other make the model's forward several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def demo():
    return _load(osp.join(ROOT, 'demo', 'ssc_demo.py'), 'ssc_demo')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp('ssc_demo')
    tool = _load(
        osp.join(ROOT, 'tools', 'create_synthetic_kitti.py'),
        'create_synthetic_kitti')
    tool.main([
        '--out',
        str(base / 'kitti'), '--sequences', '08', '--frames', '1',
        '--image-size', '96', '320', '--grid-size', '128', '128', '16',
        '--voxel-size', '0.4'
    ])
    seq = base / 'kitti' / 'sequences' / '08'
    # module fixtures run before the suite's per-test registry scope
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    checkpoint = str(base / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    return dict(
        base=base,
        root=str(base / 'kitti'),
        left=str(seq / 'image_2' / '000000.png'),
        right=str(seq / 'image_3' / '000000.png'),
        calib=str(seq / 'calib.txt'),
        checkpoint=checkpoint)


def test_demo_writes_prediction_label_and_render(demo, data, tmp_path, capsys):
    out = str(tmp_path / 'out')
    outputs = demo.main([
        data['left'], data['right'], data['calib'], CONFIG, data['checkpoint'],
        '--out-dir', out, '--device', 'cpu'
    ])
    assert outputs == dict(
        npy=osp.join(out, '000000.npy'),
        label=osp.join(out, '000000.label'),
        png=osp.join(out, '000000.png'))
    assert f'png: {outputs["png"]}' in capsys.readouterr().out
    pred = np.load(outputs['npy'])
    assert pred.shape == GRID and pred.dtype == np.uint8
    assert pred.max() < 20
    raw = np.fromfile(outputs['label'], dtype=np.uint16)
    assert raw.size == 128 * 128 * 16
    assert np.array_equal(raw, semantickitti_inverse_lut()[pred].ravel())
    # the left image beside the prediction: two 480-wide panels, each with
    # a 24-pixel title strip above 360 rows
    picture = np.asarray(Image.open(outputs['png']))
    assert picture.shape == (384, 960, 3)
    assert (picture[24:, 480:] != 255).any()

    # the same frame through the dataset and the model gives the same grid
    cfg = Config.fromfile(CONFIG)
    dataset = SemanticKittiSSCDataset(
        data['root'],
        sequences=['08'],
        pipeline=cfg.test_dataloader.dataset.pipeline,
        test_mode=True,
        grid_size=GRID,
        voxel_size=0.4)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, data['checkpoint'], map_location='cpu')
    model.eval()
    with torch.no_grad():
        result = model.test_step(pseudo_collate([dataset[0]]))[0]
    assert np.array_equal(result.pred_occ.numpy(), pred)


def test_intrinsics_calibration_projects_as_documented(demo):
    cam2img, lidar2cam = demo.calibration_from_intrinsics((100, 90, 50, 20),
                                                          0.5)
    lidar2img = geometry.build_lidar2img(
        torch.from_numpy(cam2img), torch.from_numpy(lidar2cam))
    # 10 m ahead on the axis, and 1 m to the left / 0.5 m up at 10 m
    points = torch.tensor([[10.0, 0.0, 0.0], [10.0, 1.0, 0.5]],
                          dtype=torch.float64)
    uv, depth = geometry.project_points(points, lidar2img[None])
    assert depth[0].numpy() == pytest.approx(np.full((2, 2), 10.0))
    left, right = uv[0].numpy()
    assert left == pytest.approx(np.array([[50, 20], [40, 15.5]]))
    # the right camera is 0.5 m to the right: disparity f * B / Z = 5
    assert right == pytest.approx(np.array([[45, 20], [35, 15.5]]))


def _write_image(path, hw, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*hw, 3), dtype=np.uint8)).save(path)
    return str(path)


def _calib(data, tmp_path, change):
    calib = io.read_calib(data['calib'])
    change(calib)
    path = str(tmp_path / 'calib.txt')
    io.write_calib(path, calib)
    return path


def test_bad_images(demo, data, tmp_path):
    args = [data['calib'], CONFIG, data['checkpoint'], '--device', 'cpu']
    narrow = _write_image(tmp_path / 'narrow.png', (96, 300))
    with pytest.raises(ValueError, match='every view must have the same'):
        demo.main([data['left'], narrow] + args)
    small = [
        _write_image(tmp_path / f'{v}.png', (80, 320)) for v in ('l', 'r')
    ]
    with pytest.raises(
            ValueError, match=r'smaller than the crop size \(96, 320\)'):
        demo.main(small + args)
    with pytest.raises(FileNotFoundError, match='nothing.png'):
        demo.main([data['left'], str(tmp_path / 'nothing.png')] + args)


def test_bad_calibration(demo, data, tmp_path):
    images = [data['left'], data['right']]
    rest = [CONFIG, data['checkpoint'], '--device', 'cpu']

    def no_p3(calib):
        del calib['P3']

    with pytest.raises(ValueError, match=r'missing calibration key\(s\) P3'):
        demo.main(images + [_calib(data, tmp_path, no_p3)] + rest)

    def negative_focal(calib):
        calib['P2'][0, 0] *= -1

    with pytest.raises(ValueError, match='P2: focal lengths must be pos'):
        demo.main(images + [_calib(data, tmp_path, negative_focal)] + rest)

    def shifted_centre(calib):
        calib['P2'][0, 2] += 400  # principal point of a wider image

    with pytest.raises(ValueError, match='left principal point'):
        demo.main(images + [_calib(data, tmp_path, shifted_centre)] + rest)

    def same_camera(calib):
        calib['P3'] = calib['P2'].copy()

    with pytest.raises(ValueError, match='zero stereo baseline'):
        demo.main(images + [_calib(data, tmp_path, same_camera)] + rest)


@pytest.mark.parametrize('intrinsics,baseline,match', [
    (('185', '183', '400', '47'), '0.54', r'\(400, 47\) lies outside the '
     r'320 x 96'),
    (('185', '183', '157', '-1'), '0.54', 'principal point'),
    (('0', '183', '157', '47'), '0.54', 'focal lengths must be positive'),
    (('185', '183', '157', '47'), '0', '--baseline must be a positive'),
])
def test_bad_intrinsics(demo, data, intrinsics, baseline, match):
    with pytest.raises(ValueError, match=match):
        demo.main([
            data['left'], data['right'], CONFIG, data['checkpoint'],
            '--intrinsics', *intrinsics, '--baseline', baseline
        ])


def test_command_line_errors(demo, data):
    paths = [data['left'], data['right'], CONFIG, data['checkpoint']]
    with pytest.raises(SystemExit):  # no calibration at all
        demo.parse_args(paths)
    with pytest.raises(SystemExit):  # both calib.txt and --intrinsics
        demo.parse_args(
            paths[:2] + [data['calib']] + paths[2:] +
            ['--intrinsics', '1', '1', '1', '1', '--baseline', '1'])
    with pytest.raises(SystemExit):
        demo.parse_args(paths + ['--intrinsics', '1', '1', '1', '1'])
