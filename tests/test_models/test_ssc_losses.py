"""SSC losses: values worked out by hand, slow reference versions and the
registered loss modules.

The loss tests run on every device (tests/conftest.py): the hand-computed
float64 values hold to the same tolerances on CUDA (float64 reductions in
another order differ by ~1e-15 relative).
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS

from projects.OccDepth.occdepth.datasets import label_maps
from projects.OccDepth.occdepth.models.losses import frustum_loss, ssc_losses
from projects.OccDepth.occdepth.models.occ_heads import SSCHead

# Class-1 probability of four voxels of a 2-class problem.
P1 = [0.8, 0.4, 0.5, 0.1]


def _logits(prob_rows):
    """Logits ``(1, C, N)`` whose softmax over C is ``prob_rows``."""
    return torch.tensor(prob_rows, dtype=torch.float64).log()[None]


def _two_class_logits():
    return _logits([[1 - p for p in P1], P1])


def _two_class_prob():
    return _two_class_logits().softmax(dim=1)


def test_ce_is_weighted_mean(device):
    logits = torch.tensor(
        [[[2.0, 0.5, -1.0, 0.0], [0.0, 1.0, 3.0, 1.0], [-1.0, 2.0, 0.0, 0.5]]],
        dtype=torch.float64,
        device=device)
    target = torch.tensor([[0, 2, 255, 1]], device=device)
    weights = [0.5, 2.0, 1.0]
    logp = logits.log_softmax(dim=1)[0]
    # weighted mean over the 3 supervised voxels (labels 0, 2, 1)
    expected = -(0.5 * logp[0, 0] + 1.0 * logp[2, 1] + 2.0 * logp[1, 3]) / (
        0.5 + 1.0 + 2.0)
    loss = ssc_losses.ce_ssc_loss(logits, target, weights)
    assert torch.allclose(loss, expected)
    ref = F.cross_entropy(
        logits,
        target,
        weight=torch.tensor(weights, dtype=torch.float64, device=device),
        ignore_index=255)
    assert torch.allclose(loss, ref)
    unweighted = ssc_losses.ce_ssc_loss(logits, target)
    assert torch.allclose(unweighted,
                          -(logp[0, 0] + logp[2, 1] + logp[1, 3]) / 3)
    # nothing supervised: 0, not NaN
    empty = ssc_losses.ce_ssc_loss(logits, torch.full_like(target, 255),
                                   weights)
    assert empty.item() == 0.0
    with pytest.raises(ValueError, match='3 classes'):
        ssc_losses.ce_ssc_loss(logits, target, [1.0, 1.0])


def test_occupancy_loss_binarises_target(device):
    logits = torch.tensor([[[1.0, 0.0, 2.0, -1.0], [0.0, 2.0, 0.0, 1.0]]],
                          dtype=torch.float64,
                          device=device)
    target = torch.tensor([[0, 3, 255, 1]], device=device)
    w = [0.044617, 0.050468]
    logp = logits.log_softmax(dim=1)[0]
    # occupancy target (0, 1, ignored, 1)
    expected = -(w[0] * logp[0, 0] + w[1] * logp[1, 1] + w[1] * logp[1, 3]) / (
        w[0] + 2 * w[1])
    loss = ssc_losses.occupancy_loss(logits, target, w)
    assert torch.allclose(loss, expected)


def test_kitti_class_weights():
    weights = label_maps.class_weights_from_frequencies(
        label_maps.SEMANTICKITTI_CLASS_FREQUENCIES)
    expected = [
        0.044617, 0.060334, 0.085200, 0.085578, 0.074740, 0.073424, 0.080129,
        0.079645, 0.081769, 0.055749, 0.065273, 0.056755, 0.068328, 0.056004,
        0.060348, 0.052964, 0.068781, 0.057387, 0.071649, 0.078620
    ]
    np.testing.assert_allclose(weights, expected, atol=5e-7)
    freq = label_maps.SEMANTICKITTI_CLASS_FREQUENCIES
    occ = label_maps.class_weights_from_frequencies([freq[0], sum(freq[1:])])
    np.testing.assert_allclose(occ, [0.044617, 0.050468], atol=5e-7)


def test_sem_scal_by_hand(device):
    prob = _two_class_prob().to(device)
    target = torch.tensor([[1, 0, 1, 255]], device=device)
    # supervised voxels 0..2; class 0 probs (.2, .6, .5), class 1 (.8,.4,.5)
    # class 0, t = (0, 1, 0): precision .6 / 1.3, recall .6 / 1,
    #   specificity ((1-.2) + (1-.5)) / 2 = .65
    loss0 = -math.log(0.6 / 1.3) - math.log(0.6) - math.log(0.65)
    # class 1, t = (1, 0, 1): precision 1.3 / 1.7, recall 1.3 / 2,
    #   specificity (1 - .4) / 1 = .6
    loss1 = -math.log(1.3 / 1.7) - math.log(0.65) - math.log(0.6)
    loss = ssc_losses.sem_scal_loss(prob, target)
    assert loss.item() == pytest.approx((loss0 + loss1) / 2, rel=1e-9)
    # only class 0 present, no negatives: precision .8 / .8 = 1, recall
    # .8 / 2 = .4, no specificity term; class 1 absent
    target = torch.tensor([[0, 0, 255, 255]], device=device)
    loss = ssc_losses.sem_scal_loss(prob, target)
    assert loss.item() == pytest.approx(-math.log(0.4), rel=1e-9)
    # nothing supervised
    loss = ssc_losses.sem_scal_loss(prob, torch.full_like(target, 255))
    assert loss.item() == 0.0


def test_geo_scal_by_hand(device):
    # 3 classes: empty prob (.2, .6, .5, .9); classes 1 and 2 share the rest
    empty = [1 - p for p in P1]
    logits = _logits([empty, [p * 0.25 for p in P1],
                      [p * 0.75 for p in P1]]).to(device)
    target = torch.tensor([[2, 0, 1, 255]], device=device)
    # q = (.8, .4, .5), y = (1, 0, 1): precision 1.3 / 1.7, recall 1.3 / 2,
    # specificity e over free voxels .6 / 1
    expected = -math.log(1.3 / 1.7) - math.log(0.65) - math.log(0.6)
    loss = ssc_losses.geo_scal_loss(logits.softmax(dim=1), target)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def _frustum_loss_dense(logits, target, cells, num_frustums):
    """Reference: one dense mask per frustum, as MonoScene/OccDepth."""
    bs, num_classes = logits.shape[:2]
    prob = logits.softmax(dim=1).reshape(bs, num_classes, -1)
    target = target.reshape(bs, -1)
    loss = 0
    nonempty = 0
    for k in range(num_frustums):
        mask = (cells == k).any(dim=1) & (target != 255)  # (B, N)
        masked = prob * mask[:, None].to(prob.dtype)
        cum = masked.permute(1, 0, 2).reshape(num_classes, -1).sum(dim=1)
        counts = torch.stack([((target == c) & mask).sum()
                              for c in range(num_classes)]).to(prob.dtype)
        total = cum.sum()
        total_cnt = counts.sum()
        if total > 0 and total_cnt > 0:
            t = counts / total_cnt
            p = cum / total
            nz = t != 0
            loss = loss + F.kl_div(p[nz].log(), t[nz], reduction='sum')
            nonempty += 1
    return loss / nonempty


def test_frustum_by_hand(device):
    prob = _two_class_prob().reshape(1, 2, 2, 2, 1).to(device)
    target = torch.tensor([1, 0, 1, 255], device=device).reshape(1, 2, 2, 1)
    # voxel 0: cell 0 in both views (counted once); voxel 1: cells 0 and 1;
    # voxel 2: cell 1 in view 0 only; voxel 3 is ignored; frustum 2 empty.
    cells = torch.tensor([[[0, 0, 1, 1], [0, 1, -1, 0]]], device=device)
    # frustum 0 = {0, 1}: predicted (.2+.6, .8+.4)/2 = (.4, .6), target
    # labels (1, 0) -> (.5, .5); frustum 1 = {1, 2}: predicted
    # (.6+.5, .4+.5)/2 = (.55, .45), target (.5, .5)
    kl0 = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.6)
    kl1 = 0.5 * math.log(0.5 / 0.55) + 0.5 * math.log(0.5 / 0.45)
    loss = frustum_loss.frustum_proportion_loss(prob, target, cells, 3)
    assert loss.item() == pytest.approx((kl0 + kl1) / 2, rel=1e-9)
    # a class with zero target proportion adds nothing: frustum 0 = {0, 1}
    # with labels (1, 1): predicted (.4, .6), KL = 1 * ln(1 / .6)
    target = torch.tensor([1, 1, 0, 0], device=device).reshape(1, 2, 2, 1)
    cells = torch.tensor([[[0, 0, -1, -1]]], device=device)
    loss = frustum_loss.frustum_proportion_loss(prob, target, cells, 1)
    assert loss.item() == pytest.approx(math.log(1 / 0.6), rel=1e-9)
    with pytest.raises(ValueError, match='frustum_cells of shape'):
        frustum_loss.frustum_proportion_loss(prob, target, cells[..., :3], 1)


@pytest.mark.parametrize('dtype,rtol', [(torch.float64, 1e-5),
                                        (torch.float32, 1e-4)])
def test_frustum_matches_dense_reference(dtype, rtol, device):
    gen = torch.Generator().manual_seed(torch.seed() % 2**31)
    bs, views, ncls, grid, k = 2, 2, 5, (4, 5, 3), 4
    n = grid[0] * grid[1] * grid[2]
    logits = (3 * torch.randn(bs, ncls, *grid, generator=gen)).to(dtype)
    target = torch.randint(0, ncls, (bs, *grid), generator=gen)
    target[torch.rand(bs, *grid, generator=gen) < 0.2] = 255
    # few cells so that views often agree (duplicates) or differ
    cells = torch.randint(-1, k, (bs, views, n), generator=gen)
    logits, target, cells = (t.to(device) for t in (logits, target, cells))
    fast_in = logits.clone().requires_grad_()
    dense_in = logits.clone().requires_grad_()
    fast = frustum_loss.frustum_proportion_loss(
        fast_in.softmax(dim=1), target, cells, k)
    dense = _frustum_loss_dense(dense_in, target, cells, k)
    fast.backward()
    dense.backward()
    assert torch.allclose(fast, dense, rtol=rtol, atol=0)
    assert torch.allclose(
        fast_in.grad, dense_in.grad, rtol=rtol, atol=rtol * 1e-3)


def _sem_scal_loop(logits, target):
    """Reference: MonoScene's per-class loop over masked voxels."""
    prob = logits.softmax(dim=1)
    mask = target != 255
    loss = 0
    count = 0
    for c in range(prob.shape[1]):
        p = prob[:, c][mask]
        t = (target[mask] == c).to(p.dtype)
        if t.sum() > 0:
            count += 1
            nom = (p * t).sum()
            if p.sum() > 0:
                loss = loss - (nom / p.sum()).log()
            loss = loss - (nom / t.sum()).log()
            if (1 - t).sum() > 0:
                loss = loss - (((1 - p) * (1 - t)).sum() / (1 - t).sum()).log()
    return loss / count


def test_sem_scal_matches_loop_reference(device):
    gen = torch.Generator().manual_seed(torch.seed() % 2**31)
    logits = torch.randn(2, 6, 3, 4, 5, generator=gen, dtype=torch.float64)
    # class 5 is never a target
    target = torch.randint(0, 5, (2, 3, 4, 5), generator=gen)
    target[torch.rand(2, 3, 4, 5, generator=gen) < 0.3] = 255
    logits, target = logits.to(device), target.to(device)
    fast_in = logits.clone().requires_grad_()
    loop_in = logits.clone().requires_grad_()
    fast = ssc_losses.sem_scal_loss(fast_in.softmax(dim=1), target)
    loop = _sem_scal_loop(loop_in, target)
    fast.backward()
    loop.backward()
    assert torch.allclose(fast, loop, rtol=1e-9)
    assert torch.allclose(fast_in.grad, loop_in.grad, rtol=1e-7, atol=1e-12)


# ----------------------------------------------------------------------
# registered loss modules and the head's loss configs
# ----------------------------------------------------------------------
def test_registered_modules_weight_the_hand_computed_losses():
    prob = _two_class_prob()
    target = torch.tensor([[1, 0, 1, 255]])
    # test_sem_scal_by_hand
    sem = -math.log(0.6 / 1.3) - math.log(0.6) - math.log(0.65) - math.log(
        1.3 / 1.7) - math.log(0.65) - math.log(0.6)
    loss = MODELS.build(dict(type='SemScalLoss', loss_weight=0.5))
    assert loss(prob, target).item() == pytest.approx(0.5 * sem / 2, rel=1e-9)
    # two classes: geo_scal is sem_scal's class 1 term
    geo = -math.log(1.3 / 1.7) - math.log(0.65) - math.log(0.6)
    loss = MODELS.build(dict(type='GeoScalLoss', loss_weight=3.0))
    assert loss(prob, target).item() == pytest.approx(3 * geo, rel=1e-9)
    # test_frustum_by_hand
    kl0 = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.6)
    kl1 = 0.5 * math.log(0.5 / 0.55) + 0.5 * math.log(0.5 / 0.45)
    cells = torch.tensor([[[0, 0, 1, 1], [0, 1, -1, 0]]])
    loss = MODELS.build(
        dict(type='FrustumProportionLoss', frustum_size=2, loss_weight=2.0))
    value = loss(
        prob.reshape(1, 2, 2, 2, 1), target.reshape(1, 2, 2, 1), cells)
    # 4 frustums, 2 of them non-empty
    assert value.item() == pytest.approx(2 * (kl0 + kl1) / 2, rel=1e-9)
    # a weighted mean as in test_ce_is_weighted_mean
    logits = torch.tensor([[[2.0, 0.5], [0.0, 1.0]]], dtype=torch.float64)
    logp = logits.log_softmax(dim=1)[0]
    loss = MODELS.build(
        dict(
            type='SSCCrossEntropyLoss',
            class_weight=[1.0, 3.0],
            loss_weight=2.0)).double()
    expected = -(logp[0, 0] + 3 * logp[1, 1]) / 4
    assert torch.allclose(loss(logits, torch.tensor([[0, 1]])), 2 * expected)
    # the occupancy loss binarises: label 3 is occupied (class 1)
    loss = MODELS.build(
        dict(type='OccupancyLoss', class_weight=[1.0, 3.0], loss_weight=2.0))
    assert torch.allclose(loss.double()(logits, torch.tensor([[0, 3]])),
                          2 * expected)


def _nyu_head(**kwargs):
    """A tiny head for its losses only (no forward)."""
    kwargs.setdefault('context_prior', False)
    return SSCHead(4, 4, variant='nyu', project_scale=1, **kwargs)


def test_head_rejects_losses_that_cannot_run():
    with pytest.raises(ValueError, match='loss_occ is configured'):
        _nyu_head(decoupled=False, loss_occ=dict(type='OccupancyLoss'))
    with pytest.raises(ValueError, match='loss_relation is configured'):
        _nyu_head(loss_relation=dict(type='ContextRelationLoss'))
    with pytest.raises(ValueError, match='loss_ce has class_weight'):
        _nyu_head(loss_ce=dict(type='SSCCrossEntropyLoss', class_weight=[1.0]))
    with pytest.raises(ValueError, match='loss_occ has class_weight'):
        _nyu_head(loss_occ=dict(type='OccupancyLoss', class_weight=[1.0]))
    head = _nyu_head()
    assert head.loss(
        dict(ssc_logits=torch.zeros(1, 4, 2, 2, 2)), torch.zeros(1, 2, 2,
                                                                 2)) == {}
    assert not head.uses_frustum_cells and head.frustum_size is None
    head = _nyu_head(loss_frustum=dict(type='FrustumProportionLoss'))
    assert head.uses_frustum_cells and head.frustum_size == 8


# SSCHead.loss on the inputs of _fixed_head_inputs, computed at commit
# 91993d2 (before the losses became registered modules) with
# SSCHead(4, 4, variant='nyu', project_scale=1, grid_size=(8, 8, 8),
# class_weights=[0.5, 1.0, 2.0, 1.5], occ_class_weights=[0.3, 0.7],
# frustum_size=2, loss_weights=dict(ce=1.0, sem_scal=0.7, geo_scal=1.3,
# frustum=0.5, relation=2.0, occ=0.25)) from a `git worktree` of that commit.
HEAD_LOSSES_91993D2 = {
    'loss_ce': 2.7379608154296875,
    'loss_frustum': 0.05006018280982971,
    'loss_geo_scal': 2.6709516048431396,
    'loss_occ': 0.21754908561706543,
    'loss_relation': 1.047676682472229,
    'loss_sem_scal': 2.578559160232544,
}


def _fixed_head_inputs():
    gen = torch.Generator().manual_seed(13)
    ssc = 2 * torch.randn(2, 4, 4, 4, 4, generator=gen)
    occ = torch.randn(2, 2, 4, 4, 4, generator=gen)
    rel = torch.randn(2, 4, 1, 8, generator=gen)
    gt = torch.randint(0, 4, (2, 4, 4, 4), generator=gen)
    gt[torch.rand(2, 4, 4, 4, generator=gen) < 0.2] = 255
    gt_crp = torch.randint(0, 4, (2, 2, 2, 2), generator=gen)
    cells = torch.randint(-1, 4, (2, 2, 64), generator=gen)
    outputs = dict(ssc_logits=ssc, occ_logits=occ, relation_logits=rel)
    return outputs, gt, gt_crp, cells


def test_head_losses_are_those_before_the_modules(precision):
    """Exact on the CPU in fp32. On CUDA the fp32 sums run in another order:
    within 1e-5 relative. Under autocast (the losses disable it and compute
    in fp32 from these fp32 logits) also within 1e-5."""
    head = SSCHead(
        4,
        4,
        variant='nyu',
        project_scale=1,
        grid_size=(8, 8, 8),
        loss_ce=dict(
            type='SSCCrossEntropyLoss', class_weight=[0.5, 1.0, 2.0, 1.5]),
        loss_sem_scal=dict(type='SemScalLoss', loss_weight=0.7),
        loss_geo_scal=dict(type='GeoScalLoss', loss_weight=1.3),
        loss_frustum=dict(
            type='FrustumProportionLoss', frustum_size=2, loss_weight=0.5),
        loss_relation=dict(type='ContextRelationLoss', loss_weight=2.0),
        loss_occ=dict(
            type='OccupancyLoss', class_weight=[0.3, 0.7], loss_weight=0.25))
    outputs, gt, gt_crp, cells = _fixed_head_inputs()
    dev = precision.device
    with precision.autocast():
        losses = head.to(dev).loss({
            k: v.to(dev)
            for k, v in outputs.items()
        }, gt.to(dev), gt_crp.to(dev), cells.to(dev))
    got = {k: v.item() for k, v in losses.items()}
    if precision.cpu_fp32:
        assert got == HEAD_LOSSES_91993D2
    else:
        assert got == pytest.approx(HEAD_LOSSES_91993D2, rel=1e-5)
