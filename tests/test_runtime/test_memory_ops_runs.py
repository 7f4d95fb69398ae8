"""Training runs with the memory ops give the bits of the plain ones.

The encoder's MBConv blocks (``mbconv_forward``) and the head's
``up_l1_lfull`` BN -> ReLU -> ``conv0`` (``recompute_prefix_conv``) recompute
element-wise chains in the backward pass instead of keeping them. Two tiny
seeded runs, one with them and one with their plain formulations, must end
with equal losses, weights, BN statistics and AdamW state (``torch.equal``),
with drop connect drawing its masks, for the demo and the released
configurations. One thread, as everywhere in the suite (two threads on the
shared 2-core test machine take minutes here); the ops are compared at two
threads module by module in tests/test_models/test_memory_mbconv.py.
"""
import copy
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from projects.OccDepth.occdepth.models.backbones import \
    efficientnet_unet2d as unet2d
from projects.OccDepth.occdepth.models.occ_heads import blocks3d
from projects.OccDepth.occdepth.models.ops import (
    mbconv_forward_reference, recompute_prefix_conv_reference)
from tests.test_runtime.conftest import set_crop, tiny_config_options

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _equal(new, ref, what):
    assert new.shape == ref.shape, what
    assert torch.equal(new, ref), what


def _released_tiny(data_root, work_dir):
    cfg = Config.fromfile(
        os.path.join(ROOT, 'configs', 'occdepth_kitti_released.py'))
    cfg.merge_from_dict(tiny_config_options(data_root, work_dir))
    cfg.model.backbone.init_cfg = None
    set_crop(cfg)
    return cfg


def _train(cfg, seed):
    cfg = copy.deepcopy(cfg)
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 2  # no validation
    cfg.model.backbone.drop_connect_rate = 0.2
    cfg.randomness = dict(seed=seed)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    losses = runner.message_hub.log_scalars['train/loss'].data[0]
    optimizer = runner.optim_wrapper.optimizer.state_dict()['state']
    return losses, runner.model.state_dict(), optimizer


@pytest.mark.parametrize('config', ['demo', 'released'])
def test_training_runs_are_unchanged_bitwise(config, tiny_kitti, tiny_config,
                                             tmp_path, monkeypatch):
    make = tiny_config if config == 'demo' else _released_tiny
    cfg = make(tiny_kitti, str(tmp_path / 'new'))
    new = _train(cfg, seed=3)
    # the plain formulations: the package's block forward, the plain chain
    # BN -> ReLU -> conv0 at the head's output resolution
    monkeypatch.setattr(unet2d, 'mbconv_forward', mbconv_forward_reference)
    monkeypatch.setattr(blocks3d, 'recompute_prefix_conv',
                        recompute_prefix_conv_reference)
    cfg.work_dir = str(tmp_path / 'ref')
    ref = _train(cfg, seed=3)
    assert len(new[0]) == 2 and new[0].tolist() == ref[0].tolist()
    for key in ref[1]:
        _equal(new[1][key], ref[1][key], key)
    for index, state in ref[2].items():
        for name, value in state.items():
            _equal(new[2][index][name], value, (index, name))
