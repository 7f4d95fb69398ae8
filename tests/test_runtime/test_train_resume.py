"""Training through mmengine's Runner, a crash mid-epoch and --resume."""
import os

import pytest
import torch
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner


@HOOKS.register_module(force=True)
class _CrashAtIter(Hook):
    """Simulates a crash after a given number of training iterations."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.at_iter:
            raise RuntimeError('simulated crash')


def _cfg(tiny_config, data_root, work_dir, crash_at=None, resume=False):
    cfg = tiny_config(data_root, work_dir)
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.param_scheduler[0].milestones = [1]
    cfg.param_scheduler[0].end = 2
    # deterministic data: no random augmentation, no shuffling
    cfg.train_dataloader.dataset.pipeline = [
        step for step in cfg.train_dataloader.dataset.pipeline
        if step['type'] not in ('StereoPhotoMetricDistortion',
                                'RandomStereoFlip')
    ]
    cfg.train_dataloader.sampler.shuffle = False
    cfg.randomness = dict(seed=0, deterministic=False)
    if crash_at is not None:
        cfg.custom_hooks = [dict(type='_CrashAtIter', at_iter=crash_at)]
    cfg.resume = resume
    return cfg


def test_resume_after_crash_matches_uninterrupted_run(tiny_kitti, tiny_config,
                                                      tmp_path):
    straight = Runner.from_cfg(
        _cfg(tiny_config, tiny_kitti, str(tmp_path / 'a')))
    straight.train()
    reference = {k: v.clone() for k, v in straight.model.state_dict().items()}
    ref_optim = straight.optim_wrapper.optimizer.state_dict()

    work_dir = str(tmp_path / 'b')
    crashed = Runner.from_cfg(
        _cfg(tiny_config, tiny_kitti, work_dir, crash_at=3))
    with pytest.raises(RuntimeError, match='simulated crash'):
        crashed.train()
    # the crash hit iteration 3 (epoch 2); the last checkpoint is epoch 1
    assert os.path.isfile(os.path.join(work_dir, 'epoch_1.pth'))
    assert not os.path.isfile(os.path.join(work_dir, 'epoch_2.pth'))

    resumed = Runner.from_cfg(
        _cfg(tiny_config, tiny_kitti, work_dir, resume=True))
    resumed.train()
    assert resumed.iter == straight.iter == 4
    assert resumed.epoch == straight.epoch == 2
    sched = resumed.param_schedulers[0]
    assert sched.last_step == straight.param_schedulers[0].last_step
    lr = resumed.optim_wrapper.get_lr()['lr'][0]
    assert lr == pytest.approx(straight.optim_wrapper.get_lr()['lr'][0])
    state = resumed.optim_wrapper.optimizer.state_dict()
    steps = [s['step'] for s in state['state'].values()]
    ref_steps = [s['step'] for s in ref_optim['state'].values()]
    assert [float(s) for s in steps] == [float(s) for s in ref_steps]
    for key, value in resumed.model.state_dict().items():
        assert torch.allclose(
            value.float(), reference[key].float(), rtol=1e-5, atol=1e-6), key
