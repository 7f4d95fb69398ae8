"""tools/analysis_tools/estimate_memory.py on a tiny config.

The meta-device estimate must count what the same step keeps on the CPU.
"""
import importlib.util
import json
import os

import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config

from projects.OccDepth.occdepth.engine.memory_estimate import estimate_config

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG_HW = (32, 64)
CONFIG = '''
_base_ = [
    '{root}/configs/_base_/models/occdepth.py',
    '{root}/configs/_base_/schedules/adamw_30e.py',
    '{root}/configs/_base_/default_runtime.py'
]
model = dict(
    grid_size=(16, 16, 16),
    voxel_size=3.2,
    voxel_origin=(0.0, -25.6, -2.0),
    feature_channels=8,
    backbone=dict(arch='b0', share_gradient=True),
    depth_head=dict(mid_channels=8))
'''


def _load_tool():
    path = os.path.join(ROOT, 'tools', 'analysis_tools', 'estimate_memory.py')
    spec = importlib.util.spec_from_file_location('occdepth_estimate', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_config_meta_estimate_matches_the_cpu_step(tmp_path, capsys):
    path = tmp_path / 'tiny.py'
    path.write_text(CONFIG.format(root=ROOT))
    out = tmp_path / 'estimate.json'
    result = _load_tool().main([
        str(path), '--shape',
        str(IMG_HW[0]),
        str(IMG_HW[1]), '--amp', '--json',
        str(out)
    ])
    printed = capsys.readouterr().out
    assert '| part | float32 | float16 |' in printed
    assert json.loads(out.read_text()) == result
    fp32, fp16 = result['float32'], result['float16']
    for est in (fp32, fp16):
        parts = sum(v for k, v in est.items() if k != 'total')
        assert abs(est['total'] - parts) < 1e-9
    cfg = Config.fromfile(str(path))
    model = MODELS.build(cfg.model)
    params = sum(p.numel() for p in model.parameters()) * 4 / 2**30
    assert abs(fp32['parameters'] - params) < 1e-9
    # the right view runs without gradients (share_gradient=True): every
    # parameter still gets one
    assert abs(fp32['gradients'] - params) < 1e-9
    # weights and optimiser stay fp32 under autocast; the activations change
    for part in ('parameters', 'gradients', 'optimizer_state', 'inputs'):
        assert fp16[part] == fp32[part]
    assert fp16['saved_activations'] != fp32['saved_activations']
    # the same step on the CPU keeps the same tensors
    cpu = estimate_config(cfg, IMG_HW, device='cpu').as_gib()
    assert cpu['saved_activations'] == fp32['saved_activations']
    assert cpu['largest_transient'] == fp32['largest_transient']
    assert cpu['camera_caches'] == fp32['camera_caches']
    torch.set_num_threads(1)
