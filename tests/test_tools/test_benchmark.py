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


def test_cpu_amp_runs_train_and_infer_under_bf16_autocast(
        tiny_config, capsys, monkeypatch):
    tool = _load_tool()
    entered = []

    class Recording(torch.autocast):

        def __init__(self, device_type, dtype=None, enabled=True):
            entered.append((device_type, dtype, enabled))
            super().__init__(device_type, dtype=dtype, enabled=enabled)

    monkeypatch.setattr(tool.torch, 'autocast', Recording)
    threads = torch.get_num_threads()
    try:
        results = tool.main([
            tiny_config, '--mode', 'train', '--repeats', '1', '--warmup', '0',
            '--threads', '1', '--device', 'cpu', '--amp', '--no-parts'
        ])
        results.update(
            tool.main([
                tiny_config, '--mode', 'infer', '--repeats', '1', '--warmup',
                '0', '--threads', '1', '--amp', '--no-parts'
            ]))
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    assert 'device: cpu (CPU), precision: bfloat16' in printed
    for mode in ('train', 'infer'):
        assert results[mode]['precision'] == 'bfloat16'
        assert results[mode]['parts'] == {}  # --no-parts
        assert results[mode]['peak_mib'] > 0
    # one step each (no warm-up): the forward ran under bf16 autocast (the
    # losses switch it off inside: enabled=False)
    assert [e for e in entered if e[2]] == [('cpu', torch.bfloat16, True)] * 2


def test_train_amp_uses_the_amp_optim_wrapper_of_train_py(tiny_config):
    from mmengine.config import Config
    tool = _load_tool()
    cfg = Config.fromfile(tiny_config)
    fp16 = tool.train_optim_cfg(cfg, torch.float16)
    assert fp16['type'] == 'AmpOptimWrapper'
    assert fp16['loss_scale'] == 'dynamic' and fp16['dtype'] == 'float16'
    assert fp16['clip_grad'] == dict(max_norm=35, norm_type=2)
    assert tool.train_optim_cfg(cfg, torch.bfloat16) == dict(
        cfg.optim_wrapper)  # bf16 needs no loss scaling
    assert tool.train_optim_cfg(cfg, None)['type'] == 'OptimWrapper'


@pytest.mark.parametrize('argv,message', [
    (['--device', 'cuda'], 'CUDA is not available'),
    (['--device', 'cuda:1', '--amp'], 'CUDA is not available'),
    (['--device', 'gpu'], '--device gpu'),
    (['--device', 'meta'], "must be 'cpu' or 'cuda"),
    (['--amp', '--amp-dtype', 'float16'], 'float16 needs --device cuda'),
    (['--amp-dtype', 'bfloat16'], '--amp-dtype needs --amp'),
])
def test_device_and_amp_errors(argv, message, monkeypatch, capsys):
    tool = _load_tool()
    monkeypatch.setattr(tool.torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit):
        tool.parse_args(['config.py'] + argv)
    assert message in capsys.readouterr().err


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
