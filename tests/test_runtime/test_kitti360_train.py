"""configs/occdepth_kitti360.py end to end on a tiny SSCBench-KITTI-360 tree:
LiDAR depth maps, tools/train.py (two iterations, then the metric on the
val drive), tools/visualize.py and tools/browse_dataset.py."""
import os
import re

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from projects.OccDepth.occdepth.datasets.label_maps import KITTI360_CLASSES
from tests.test_datasets import kitti360_layout as layout
from tools import browse_dataset, visualize
from tools.dataset_converters.kitti360_lidar_depth import \
    create_kitti360_lidar_depth

CONFIG = 'configs/occdepth_kitti360.py'
GRID = (64, 64, 16)
VOXEL = 0.8
IMG_HW = (48, 160)
DRIVE_06 = '2013_05_28_drive_0006_sync'


@pytest.fixture(scope='module')
def kitti360_root(tmp_path_factory):
    """Drives 00 (2 frames, train) and 06 (1 frame, val) with scans and
    their LiDAR depth maps under ``{root}/../lidar_depth``."""
    base = tmp_path_factory.mktemp('kitti360')
    root = layout.make_kitti360(
        str(base / 'KITTI-360'), {
            '00': ['000000', '000005'],
            '06': ['000010']
        },
        grid=GRID,
        img_hw=IMG_HW,
        scans=True)
    assert create_kitti360_lidar_depth(root, str(base / 'lidar_depth'),
                                       ['00', '06']) == 3
    return root


def _dataset_options(root, loaders=('train', 'val', 'test')):
    options = []
    for loader in loaders:
        key = f'{loader}_dataloader'
        options += [
            f'{key}.dataset.data_root={root}',
            f'{key}.dataset.grid_size={GRID}',
            f'{key}.dataset.voxel_size={VOXEL}',
            f'{key}.num_workers=0',
            f'{key}.persistent_workers=False',
        ]
    return options


def test_config_trains_two_iterations_and_evaluates(kitti360_root, tmp_path,
                                                    run_python):
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.occ_head.num_classes == len(KITTI360_CLASSES) == 19
    steps = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'LoadKitti360Labels' in steps and 'LoadStereoDepth' in steps
    depth_root = os.path.join(os.path.dirname(kitti360_root), 'lidar_depth')
    options = _dataset_options(kitti360_root) + [
        f'train_dataloader.dataset.depth_root={depth_root}',
        f'model.grid_size={GRID}',
        f'model.voxel_size={VOXEL}',
        'model.feature_channels=8',
        'model.depth_head.mid_channels=8',
        'model.backbone.arch=b0',
        'model.backbone.init_cfg=None',
        'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
    ]
    proc = run_python([
        'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # two iterations, each with the distillation loss on the LiDAR depth
    assert len(
        re.findall(r'Epoch\(train\) \[1\]\[[12]/2\].* loss_depth: '
                   r'[0-9.]+', log)) == 2, log[-4000:]
    # the metric ran on drive 06 with the benchmark's 19 class names
    metrics = re.search(r'Epoch\(val\) \[1\]\[1/1\] +SC_Precision.*', log)
    assert metrics, log[-4000:]
    names = re.findall(r'IoU_([\w-]+): [0-9.]+', metrics.group(0))
    assert tuple(names) == KITTI360_CLASSES, names
    assert os.path.isfile(str(tmp_path / 'work' / 'epoch_1.pth'))


def test_visualize_and_browse_with_the_config(kitti360_root, tmp_path, capsys):
    voxels = os.path.join(kitti360_root, 'data_2d_raw', DRIVE_06, 'voxels')
    image = os.path.join(kitti360_root, 'data_2d_raw', DRIVE_06, 'image_00',
                         'data_rect', '000010.png')
    out = str(tmp_path / 'grid.png')
    assert visualize.main([
        os.path.join(voxels, '000010.label'), '--invalid',
        os.path.join(voxels, '000010.invalid'), '--config', CONFIG,
        '--grid-size', *map(str, GRID), '--voxel-size',
        str(VOXEL), '--image', image, '--out', out
    ]) == 0
    assert os.path.getsize(out) > 0
    # SemanticKITTI's bit-packed mask is refused, naming the file
    bad = str(tmp_path / 'packed.invalid')
    np.packbits(np.zeros(int(np.prod(GRID)), dtype=bool)).tofile(bad)
    assert visualize.main([
        os.path.join(voxels, '000010.label'), '--invalid', bad, '--config',
        CONFIG, '--grid-size', *map(str, GRID), '--voxel-size',
        str(VOXEL), '--out', out
    ]) == 1
    assert 'packed.invalid' in capsys.readouterr().err

    browse = tmp_path / 'browse'
    assert browse_dataset.main([
        CONFIG, '--split', 'val', '--out-dir',
        str(browse), '--cfg-options',
        *_dataset_options(kitti360_root, ['val'])
    ]) == 0
    assert sorted(os.listdir(browse)) == [
        f'0000_06_000010_{s}.png' for s in ('grid', 'left', 'right')
    ]
    # the ground-truth voxels are drawn onto both views
    for view, name in ((0, 'left'), (1, 'right')):
        raw = np.asarray(
            Image.open(image.replace('image_00', f'image_0{view}')))
        picture = np.asarray(Image.open(browse / f'0000_06_000010_{name}.png'))
        assert picture.shape == raw.shape
        assert (picture != raw).any(-1).mean() > 0.05


def test_no_depth_variant_drops_only_the_distillation():
    full = Config.fromfile(CONFIG).to_dict()
    plain = Config.fromfile('configs/occdepth_kitti360_no_depth.py').to_dict()
    dataset = plain['train_dataloader']['dataset']
    assert dataset['depth_root'] is None
    assert dataset['pipeline'] == plain['train_pipeline'] == [
        t for t in full['train_pipeline'] if t['type'] != 'LoadStereoDepth'
    ]
    # everything else is the full config
    dataset['depth_root'] = full['train_dataloader']['dataset']['depth_root']
    dataset['pipeline'] = plain['train_pipeline'] = full['train_pipeline']
    assert plain == full
