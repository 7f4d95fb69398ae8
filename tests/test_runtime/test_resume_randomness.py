"""ResumableRandomnessHook: a resumed run takes the resumed run's sampler
seed and draws the model's random numbers of an uninterrupted run.

A toy model (drop-out mask from torch's global RNG) on a toy dataset
(numpy and Python noise in the pipeline), so that the runs take a second.
"""
import os
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from projects.OccDepth.occdepth.datasets import (SeededDatasetMixin,
                                                 SeededSampler)
from projects.OccDepth.occdepth.datasets.seeding import (TRAIN_ITER_STREAM,
                                                         derive_seed)
from projects.OccDepth.occdepth.engine import ResumableRandomnessHook


def _noise(results):
    """A random transform drawing from numpy's and Python's global RNGs."""
    results['inputs'] = torch.tensor(
        [results['x'] + np.random.randn(),
         random.random()],
        dtype=torch.float32)
    return results


class _ToyDataset(SeededDatasetMixin, BaseDataset):

    def __init__(self):
        super().__init__(pipeline=[_noise], serialize_data=False)

    def load_data_list(self):
        return [dict(x=float(i)) for i in range(6)]


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        # built before the Runner seeds anything: a fixed start
        nn.init.constant_(self.linear.weight, 0.5)
        nn.init.zeros_(self.linear.bias)

    def forward(self, inputs, mode='loss', **kwargs):
        x = torch.stack(inputs)
        keep = (torch.rand(x.shape) > 0.3).float()
        return dict(loss=(self.linear(x * keep) - 1).pow(2).mean())


class _Crash(Hook):

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at_iter:
            raise RuntimeError('simulated crash')


def _runner(work_dir, name, seed, crash_at=None, resume=False):
    return Runner(
        model=_ToyModel(),
        work_dir=work_dir,
        experiment_name=name,
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='SeededSampler', shuffle=True),
            batch_size=2,
            num_workers=1,
            persistent_workers=True),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(
            logger=None,
            checkpoint=dict(type='CheckpointHook', interval=1),
            resumable_randomness=dict(type='ResumableRandomnessHook')),
        custom_hooks=[_Crash(crash_at)] if crash_at else None,
        randomness=dict(seed=seed),
        resume=resume,
        default_scope='mmdet3d')


def test_resume_with_a_drawn_seed_matches_uninterrupted_run(tmp_path):
    work_dir = str(tmp_path / 'crashed')
    # randomness.seed=None: every run draws its own seed
    crashed = _runner(work_dir, 'crashed', seed=None, crash_at=5)
    with pytest.raises(RuntimeError, match='simulated crash'):
        crashed.train()
    assert os.path.isfile(os.path.join(work_dir, 'epoch_1.pth'))
    seed = crashed.seed
    assert crashed.train_dataloader.sampler.seed == seed

    resumed = _runner(work_dir, 'resumed', seed=None, resume=True)
    resumed.train()
    assert resumed.seed == seed
    assert resumed.train_dataloader.sampler.seed == seed
    assert resumed.iter == 6

    straight = _runner(str(tmp_path / 'straight'), 'straight', seed=seed)
    straight.train()
    for key, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_hook_records_and_restores_the_sampler_seed():
    hook = ResumableRandomnessHook()
    sampler = SeededSampler(_ToyDataset(), seed=5)
    runner = SimpleNamespace(
        train_dataloader=SimpleNamespace(sampler=sampler),
        message_hub=MessageHub('resume_randomness_unit'),
        seed=3,
        iter=17)
    hook.before_train(runner)  # a fresh run records its seed
    assert runner.message_hub.get_info('train_sampler_seed') == 5
    assert runner.message_hub.state_dict()['runtime_info'] == {
        'train_sampler_seed': 5
    }
    sampler.seed = 8  # a resumed run's sampler drew another seed
    hook.before_train(runner)
    assert sampler.seed == 5

    hook.before_train_iter(runner, batch_idx=0)
    seed = derive_seed(3, TRAIN_ITER_STREAM, 17)
    assert np.random.rand() == np.random.RandomState(seed).rand()
    assert random.random() == random.Random(seed).random()
    assert torch.equal(
        torch.rand(3),
        torch.rand(3, generator=torch.Generator().manual_seed(seed)))
