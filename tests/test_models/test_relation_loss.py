"""Context relation loss: targets and loss by hand, slow reference."""
import math

import pytest
import torch
from mmdet3d.registry import MODELS

from projects.OccDepth.occdepth.models.losses import relation_loss


def _relation_targets_loop(labels, n_relations):
    """Reference: MonoScene's CP mega matrix, one super-voxel at a time."""
    sx, sy, sz = labels.shape
    hx, hy, hz = sx // 2, sy // 2, sz // 2
    rows = labels.reshape(-1)
    out = torch.zeros(
        n_relations, rows.numel(), hx * hy * hz, dtype=torch.bool)
    valid = rows != 255
    for x in range(hx):
        for y in range(hy):
            for z in range(hz):
                col = x * hy * hz + y * hz + z
                block = labels[2 * x:2 * x + 2, 2 * y:2 * y + 2,
                               2 * z:2 * z + 2].reshape(-1)
                for lab in block[block != 255].tolist():
                    if n_relations == 4:
                        out[0, :, col] |= valid & (rows == lab) & (lab != 0)
                        out[1, :, col] |= (
                            valid & (rows != lab) & (lab != 0)
                            & (rows != 0))
                        out[2, :, col] |= valid & (rows == lab) & (lab == 0)
                        out[3, :, col] |= (
                            valid & (rows != lab)
                            & ((rows == 0) | (lab == 0)))
                    else:
                        out[0, :, col] |= valid & (rows != lab)
                        out[1, :, col] |= valid & (rows == lab)
    return out


def test_relation_targets_by_hand(device):
    # 4x2x2 grid -> 2 super-voxels (x in {0,1} and x in {2,3}), rows in C
    # order n = 4x + 2y + z
    sv0 = [0, 1, 1, 2, 255, 255, 0, 1]  # labels {0, 1, 2}
    sv1 = [1, 1, 255, 1, 1, 1, 1, 1]  # labels {1}
    gt = torch.tensor(sv0 + sv1, device=device).reshape(1, 4, 2, 2)
    rel = relation_loss.compute_relation_targets(gt, 4)
    assert rel.shape == (1, 4, 16, 2) and rel.dtype == torch.bool
    rows = gt.reshape(-1).tolist()
    # (same non-empty, different non-empty, empty-empty, non-empty/empty)
    expect_sv0 = {0: [0, 0, 1, 1], 1: [1, 1, 0, 1], 2: [1, 1, 0, 1]}
    expect_sv1 = {0: [0, 0, 0, 1], 1: [1, 0, 0, 0], 2: [0, 1, 0, 0]}
    for n, lab in enumerate(rows):
        if lab == 255:
            assert not rel[0, :, n].any()
            continue
        assert rel[0, :, n, 0].long().tolist() == expect_sv0[lab]
        assert rel[0, :, n, 1].long().tolist() == expect_sv1[lab]
    binary = relation_loss.compute_relation_targets(gt, 2)
    assert binary.shape == (1, 2, 16, 2)
    # (different, same): sv0 holds every row label and another one
    expect_sv1 = {0: [1, 0], 1: [0, 1], 2: [1, 0]}
    for n, lab in enumerate(rows):
        if lab == 255:
            assert not binary[0, :, n].any()
            continue
        assert binary[0, :, n, 0].long().tolist() == [1, 1]
        assert binary[0, :, n, 1].long().tolist() == expect_sv1[lab]
    with pytest.raises(ValueError, match='n_relations'):
        relation_loss.compute_relation_targets(gt, 3)


@pytest.mark.parametrize('n_relations', [2, 4])
def test_relation_targets_match_loop(n_relations, device):
    gen = torch.Generator().manual_seed(torch.seed() % 2**31)
    # odd axes are floored: 5x3x4 -> 2x1x2 super-voxels
    values = torch.tensor([0, 0, 1, 2, 3, 255])
    gt = values[torch.randint(0, 6, (2, 5, 3, 4), generator=gen)]
    rel = relation_loss.compute_relation_targets(gt.to(device),
                                                 n_relations).cpu()
    assert rel.shape == (2, n_relations, 60, 4)
    for b in range(2):
        assert torch.equal(rel[b], _relation_targets_loop(gt[b], n_relations))


def test_relation_loss_by_hand(device):
    ln3 = math.log(3)
    # logits (B=1, R=2, M=1, N=3), targets (B, R, N, M)
    logits = torch.tensor([[[[0.0, ln3, 0.0]], [[ln3, 0.0, -ln3]]]],
                          dtype=torch.float64,
                          device=device)
    targets = torch.tensor([[[1, 0, 1], [1, 0, 0]]],
                           device=device).reshape(1, 2, 3, 1)
    # relation 0: 2 positives, 1 negative -> pos_weight .5
    #   .5 * -ln s(0) + -ln(1 - s(ln3)) + .5 * -ln s(0) = ln 2 + ln 4
    # relation 1: 1 positive, 2 negatives -> pos_weight 2
    #   2 * -ln s(ln3) - ln(1 - s(0)) - ln(1 - s(-ln3))
    #   = 2 ln(4/3) + ln 2 + ln(4/3)
    expected = (4 * math.log(2) + 3 * math.log(4 / 3)) / 6
    loss = relation_loss.relation_loss(logits, targets.bool())
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match='relation_loss'):
        relation_loss.relation_loss(logits, targets.reshape(1, 2, 1, 3))


def test_relation_module_builds_the_targets():
    gen = torch.Generator().manual_seed(5)
    gt = torch.randint(0, 4, (2, 4, 2, 2), generator=gen)
    logits = torch.randn(2, 2, 2, 16, generator=gen)
    loss = MODELS.build(dict(type='ContextRelationLoss', loss_weight=1.5))
    # the number of relations is read from the logits (2: binary prior)
    targets = relation_loss.compute_relation_targets(gt, 2)
    assert torch.equal(
        loss(logits, gt), 1.5 * relation_loss.relation_loss(logits, targets))
