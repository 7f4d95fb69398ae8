"""Tests of the loss-weight decay hook."""
from types import SimpleNamespace

import pytest
import torch
from mmdet3d.registry import HOOKS
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from projects.OccDepth.occdepth.engine import LossWeightDecayHook
from projects.OccDepth.occdepth.models.losses import (FrustumProportionLoss,
                                                      GeoScalLoss, SemScalLoss)
from projects.OccDepth.occdepth.models.occ_heads import SSCHead


class _Head(nn.Module):

    def __init__(self):
        super().__init__()
        self.loss_sem_scal = SemScalLoss(loss_weight=2.0)
        self.loss_geo_scal = GeoScalLoss(loss_weight=1.0)
        self.loss_frustum = FrustumProportionLoss(loss_weight=4.0)
        self.loss_relation = None  # not configured


class _Model(nn.Module):

    def __init__(self):
        super().__init__()
        self.occ_head = _Head()


def _runner(model, cur_iter, max_iters=1000):
    hub = MessageHub.get_instance('test_loss_weight_decay_hook')
    return SimpleNamespace(
        model=model, iter=cur_iter, max_iters=max_iters, message_hub=hub)


def test_registered():
    assert HOOKS.get('LossWeightDecayHook') is LossWeightDecayHook


@pytest.mark.parametrize('cur_iter,expected', [(0, 2.0), (250, 1.5),
                                               (500, 1.0), (900, 0.2),
                                               (999, 0.2)])
def test_decay_schedule(cur_iter, expected):
    model = _Model()
    runner = _runner(model, cur_iter)
    hook = LossWeightDecayHook()
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    assert model.occ_head.loss_sem_scal.loss_weight == pytest.approx(expected)
    assert model.occ_head.loss_geo_scal.loss_weight == 1.0
    logged = runner.message_hub.get_scalar('train/loss_sem_scal_weight')
    assert logged.current() == pytest.approx(expected)


def test_uses_base_weight_not_previous_value():
    model = _Model()
    runner = _runner(model, 0, max_iters=10)
    hook = LossWeightDecayHook()
    hook.before_train(runner)
    for it in range(4):
        runner.iter = it
        hook.before_train_iter(runner, batch_idx=it)
    # 2.0 * (1 - 3/10), not a product of the per-iteration factors.
    assert model.occ_head.loss_sem_scal.loss_weight == pytest.approx(1.4)


def test_resume_continues_schedule():
    # A fresh model and hook (as after a resume) at iteration 600 of 1000.
    model = _Model()
    runner = _runner(model, 600)
    hook = LossWeightDecayHook(min_factor=0.1)
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    assert model.occ_head.loss_sem_scal.loss_weight == pytest.approx(0.8)


def test_unwraps_model_wrapper_and_decays_several_losses():
    model = _Model()
    runner = _runner(nn.DataParallel(model), 500)
    hook = LossWeightDecayHook(
        loss_names=('occ_head.loss_frustum', 'occ_head.loss_sem_scal'),
        min_factor=0.0)
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    assert model.occ_head.loss_frustum.loss_weight == pytest.approx(2.0)
    assert model.occ_head.loss_sem_scal.loss_weight == pytest.approx(1.0)
    assert model.occ_head.loss_geo_scal.loss_weight == 1.0


def test_sets_the_weight_the_head_applies():
    """The hook reweights the registered loss module of a real head."""
    head = SSCHead(
        4,
        3,
        variant='nyu',
        project_scale=1,
        context_prior=False,
        decoupled=False,
        loss_sem_scal=dict(type='SemScalLoss', loss_weight=2.0))
    model = nn.Module()
    model.occ_head = head
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 3, 4, 4, 4, generator=gen)
    gt = torch.randint(0, 3, (1, 4, 4, 4), generator=gen)
    before = head.loss(dict(ssc_logits=logits), gt)['loss_sem_scal']
    runner = _runner(model, 750)
    hook = LossWeightDecayHook()
    hook.before_train(runner)
    hook.before_train_iter(runner, batch_idx=0)
    assert head.loss_sem_scal.loss_weight == pytest.approx(0.5)
    after = head.loss(dict(ssc_logits=logits), gt)['loss_sem_scal']
    assert after.item() == pytest.approx(before.item() / 4, rel=1e-6)


def test_errors():
    runner = _runner(_Model(), 0)
    with pytest.raises(ValueError, match="no loss module 'occ_head.loss_x'"):
        LossWeightDecayHook(loss_names='occ_head.loss_x').before_train(runner)
    # a loss that is not configured (None) cannot be decayed
    with pytest.raises(ValueError, match='not configured'):
        LossWeightDecayHook(
            loss_names='occ_head.loss_relation').before_train(runner)
    with pytest.raises(ValueError, match='no numeric loss_weight'):
        LossWeightDecayHook(loss_names='occ_head').before_train(runner)
    with pytest.raises(ValueError, match='min_factor'):
        LossWeightDecayHook(min_factor=1.5)
    with pytest.raises(RuntimeError, match='before_train'):
        LossWeightDecayHook().before_train_iter(runner, batch_idx=0)
    hook = LossWeightDecayHook()
    hook.before_train(runner)
    runner.max_iters = 0
    with pytest.raises(ValueError, match='max_iters'):
        hook.before_train_iter(runner, batch_idx=0)


class _ToyModel(BaseModel):
    """Records the weight its loss sees at every training step."""

    def __init__(self):
        super().__init__()
        self.occ_head = _Head()
        self.param = nn.Parameter(torch.ones(1))
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        weight = self.occ_head.loss_sem_scal.loss_weight
        self.seen.append(weight)
        return dict(loss_sem_scal=weight * (self.param * inputs).sum())


def test_with_mmengine_runner(tmp_path):
    model = _ToyModel()
    data = [dict(inputs=torch.ones(1)) for _ in range(8)]
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=1,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=5),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),
        custom_hooks=[LossWeightDecayHook()],
        default_hooks=dict(checkpoint=None),
        log_level='WARNING')
    runner.train()
    assert model.seen == pytest.approx([2.0, 1.6, 1.2, 0.8, 0.4])
