"""Smoke test of tools/analysis_tools/benchmark.py at a tiny config.

Checks that every mode runs and prints its tables; no timing is asserted.
"""
import importlib.util
import os

import pytest
import torch
from torch import nn

from projects.OccDepth.occdepth.engine.profiling import PartTimer, PeakMemory
from tools.dataset_converters import synthetic_kitti

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG_HW = (32, 64)

CONFIG = '''
_base_ = [
    '{root}/configs/_base_/models/occdepth.py',
    '{root}/configs/_base_/schedules/adamw_30e.py',
    '{root}/configs/_base_/default_runtime.py'
]
geometry = dict(
    grid_size=(16, 16, 16), voxel_size=3.2, voxel_origin=(0.0, -25.6, -2.0))
model = dict(
    **geometry,
    feature_channels=8,
    backbone=dict(arch='b0', share_gradient=True),
    depth_head=dict(mid_channels=8))
train_dataloader = dict(
    dataset=dict(
        type='SemanticKittiSSCDataset',
        data_root='{data}',
        depth_root='{data}/depth',
        sequences=['00'],
        pipeline=[
            dict(type='LoadStereoImages', crop_size={img_hw}),
            dict(type='LoadSSCLabels'),
            dict(type='LoadStereoDepth', crop_size={img_hw}),
            dict(type='PackSSCInputs'),
        ],
        **geometry))
'''


def _load_tool():
    path = os.path.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')
    spec = importlib.util.spec_from_file_location('occdepth_benchmark', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bench')
    data = tmp / 'kitti'
    synthetic_kitti.generate_dataset(
        str(data),
        sequences=['00'],
        frames=2,
        image_size=IMG_HW,
        grid_size=(16, 16, 16),
        voxel_size=3.2)
    path = tmp / 'tiny.py'
    path.write_text(CONFIG.format(root=ROOT, data=data, img_hw=IMG_HW))
    return str(path)


def test_every_mode_runs_and_prints_tables(tiny_config, tmp_path, capsys):
    tool = _load_tool()
    threads = torch.get_num_threads()
    out = tmp_path / 'result.json'
    try:
        results = tool.main([
            tiny_config, '--mode', 'all', '--repeats', '1', '--warmup', '0',
            '--threads', '1', '--data-samples', '2', '--json',
            str(out)
        ])
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert set(results) == {'train', 'infer', 'data'}
    for mode in results:
        assert f'| {mode} |' in printed
    train = results['train']
    assert train['image'] == IMG_HW  # crop_size of the training pipeline
    assert train['min_s'] <= train['median_s'] <= train['max_s']
    assert train['peak_mib'] > 0
    for part in ('backbone (both views)', 'Stereo-SFA', 'OAD depth head',
                 '3D UNet + CRP', 'full-res head', 'loss_frustum',
                 'frustum cells', 'loss_depth', 'backward', 'optimizer'):
        assert part in train['parts'], part
        assert f'| {part} |' in printed
    assert 'backward' not in results['infer']['parts']
    data = results['data']
    assert data['samples_per_s'] > 0 and data['mib_per_sample'] > 0
    assert out.exists()


def test_part_timer_attributes_calls_and_restores():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 3)))
    owner = type('Owner', (), {})()
    owner.helper = lambda x: owner.inner(x) * 2
    owner.inner = lambda x: x + 1
    original = owner.helper
    timer = PartTimer(model, {
        'first': [r'0'],
        'second': [r'1(\.0)?']
    }, {
        'helper': [(owner, 'helper')],
        'inner': [(owner, 'inner')]
    })
    with timer.installed():
        timer.start_step()
        model(torch.randn(2, 3))
        assert owner.helper(1) == 4
        with timer.section('backward'):
            model(torch.randn(2, 3))  # not attributed to the parts
        timer.end_step()
    assert owner.helper is original
    step = timer.steps[0]
    # the nested call is counted in the outer one only
    assert set(step) == {'first', 'second', 'helper', 'backward'}
    assert all(seconds >= 0 for seconds in step.values())
    assert set(timer.medians()) == set(step)


def test_peak_memory_reports_a_positive_peak():
    memory = PeakMemory(torch.device('cpu'))
    memory.reset()
    block = torch.ones(32, 2**20 // 4)  # 32 MiB touched
    assert memory.peak_mib() >= 32
    del block
