"""Optimised ops against their plain reference implementations.

Each test draws fresh random inputs (the seed is part of every failure
message), runs the op and its reference and compares values and gradients to
1e-5 relative to the largest magnitude, on every device (tests/conftest.py;
the inputs are drawn on the CPU and moved, so both devices see the same
values). On CUDA the scatters add in another order: the fp32 results move by
a few ulp (~1e-7 relative), well inside 1e-5.
"""
import math
import random

import pytest
import torch
import torch.nn.functional as F

from projects.OccDepth.occdepth.models import ops
from projects.OccDepth.occdepth.models.ops import frustum_sums, stereo_cosine

RTOL = 1e-5


def _fresh_seed() -> int:
    seed = random.SystemRandom().randrange(2**31)
    torch.manual_seed(seed)
    return seed


def _close(actual: torch.Tensor, expected: torch.Tensor, what: str,
           seed: int) -> None:
    assert actual.shape == expected.shape, f'{what} (seed {seed}): shape'
    scale = expected.abs().max().clamp_min(1e-30)
    err = ((actual.double() - expected.double()).abs().max() / scale).item()
    assert err <= RTOL, f'{what} (seed {seed}): relative error {err:.2e}'


def _check(op, reference, inputs, grad_of, what, seed):
    """Values and the gradient w.r.t. ``grad_of`` under random cotangents."""
    got = op(*inputs)
    want = reference(*inputs)
    got = got if isinstance(got, tuple) else (got, )
    want = want if isinstance(want, tuple) else (want, )
    cotangents = [torch.randn(w.shape, dtype=torch.float64) for w in want]
    for i, (g, w) in enumerate(zip(got, want)):
        _close(g, w, f'{what} output {i}', seed)
    grads = torch.autograd.grad(
        [g for g in got if g.requires_grad], grad_of,
        [c.to(g) for c, g in zip(cotangents, got) if g.requires_grad])
    expected = torch.autograd.grad(
        [w for w in want if w.requires_grad], grad_of,
        [c.to(w) for c, w in zip(cotangents, want) if w.requires_grad])
    for g, e in zip(grads, expected):
        _close(g, e, f'{what} gradient', seed)


def _scene(batch=2, classes=6, voxels=120, views=2, cells=9, device='cpu'):
    prob = torch.randn(batch, classes, voxels).softmax(dim=1)
    prob = prob.to(device).requires_grad_()
    labels = torch.randint(0, classes, (batch, voxels))
    cell = torch.randint(-1, cells, (batch, views, voxels))
    # the views often agree, as for distant voxels of a stereo rig
    same = torch.rand(batch, voxels) < 0.5
    cell[:, -1] = torch.where(same, cell[:, 0], cell[:, -1])
    return prob, labels.to(device), cell.to(device)


def test_class_sums_match_reference(device):
    seed = _fresh_seed()
    prob, labels, _ = _scene(device=device)
    weight = (torch.rand(labels.shape) < 0.8).float().to(device)
    _check(ops.class_sums, ops.class_sums_reference, (prob, labels, weight),
           prob, 'class_sums', seed)
    sum_p, inter = ops.class_sums(prob, labels, weight)
    assert sum_p.dtype == inter.dtype == torch.float64


def test_class_sums_by_hand(device):
    # 2 classes, 3 voxels; the last one has weight 0
    prob = torch.tensor([[[0.2, 0.6, 0.5], [0.8, 0.4, 0.5]]], device=device)
    labels = torch.tensor([[1, 0, 1]], device=device)
    weight = torch.tensor([[1.0, 1.0, 0.0]], device=device)
    sum_p, inter = ops.class_sums(prob, labels, weight)
    assert torch.allclose(sum_p.cpu(),
                          torch.tensor([0.8, 1.2], dtype=torch.double))
    assert torch.allclose(inter.cpu(),
                          torch.tensor([0.6, 0.8], dtype=torch.double))


@pytest.mark.parametrize('views,max_codes', [(1, 1 << 16), (2, 1 << 16),
                                             (3, 1 << 16), (2, 1)])
def test_frustum_class_sums_match_reference(views, max_codes, monkeypatch,
                                            device):
    seed = _fresh_seed()
    # max_codes = 1 takes the per-view scatter used for many views / cells
    monkeypatch.setattr(frustum_sums, 'MAX_CELL_CODES', max_codes)
    prob, labels, cells = _scene(views=views, device=device)
    _check(lambda *a: ops.frustum_class_sums(*a, 9),
           lambda *a: ops.frustum_class_sums_reference(*a, 9),
           (prob, labels, cells), prob, f'frustum V={views}', seed)


def test_frustum_class_sums_by_hand(device):
    # voxel 0: cell 0 in both views (counted once); voxel 1: cells 0 and 1;
    # voxel 2: cell 1 in view 0 only; voxel 3 in no cell; frustum 2 empty
    prob = torch.tensor([[[0.2, 0.6, 0.5, 0.9], [0.8, 0.4, 0.5, 0.1]]],
                        device=device)
    labels = torch.tensor([[1, 0, 1, 0]], device=device)
    cells = torch.tensor([[[0, 0, 1, -1], [0, 1, -1, 5]]], device=device)
    sums, counts = ops.frustum_class_sums(prob, labels, cells, 3)
    sums, counts = sums.cpu(), counts.cpu()
    assert torch.allclose(sums,
                          torch.tensor([[0.8, 1.2], [1.1, 0.9], [0.0, 0.0]]))
    assert torch.equal(counts,
                       torch.tensor([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match='frustum_class_sums'):
        ops.frustum_class_sums(prob, labels[:, :3], cells, 3)


def test_frustum_class_sums_stay_fp32_under_autocast(amp):
    seed = _fresh_seed()
    prob, labels, cells = _scene(device=amp.device)
    expected = ops.frustum_class_sums(prob, labels, cells, 9)
    with amp.autocast():
        value = ops.frustum_class_sums(prob, labels, cells, 9)
    for v, e in zip(value, expected):
        assert v.dtype == torch.float32
        _close(v, e, 'frustum sums under autocast', seed)


def _stereo_inputs(batch, voxels, scales, dtype, device='cpu'):
    """Random row indices and features; a voxel is seen by both views, by
    one of them (the other reads the zero row) or by none."""
    seen = []
    for _ in range(batch):
        r = torch.rand(voxels)
        seen.append(torch.stack([r < 0.75, (r < 0.6) | (r > 0.9)]))
    both = [s.all(0)[:, None] for s in seen]
    feats, indices = [], [[] for _ in range(batch)]
    for h, w in scales:
        feats.append(
            torch.randn(batch, 2, 5, h, w,
                        dtype=dtype).to(device).requires_grad_())
        for i in range(batch):
            rows = torch.randint(0, h * w, (2, voxels))
            rows = rows + torch.arange(2)[:, None] * (h * w)
            rows = torch.where(seen[i], rows, 2 * h * w)
            indices[i].append(rows.to(device, torch.int32))
    return indices, [b.to(device) for b in both], feats


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_stereo_cosine_matches_reference(dtype, monkeypatch, device):
    seed = _fresh_seed()
    # a few voxels per chunk so that chunk boundaries are crossed
    monkeypatch.setattr(stereo_cosine, 'CHUNK', 37)
    indices, both, feats = _stereo_inputs(2, 100, [(6, 7), (3, 4)], dtype,
                                          device)
    _check(lambda *f: ops.stereo_cosine_fusion(indices, both, f),
           lambda *f: ops.stereo_cosine_reference(indices, both, f), feats,
           feats, f'stereo cosine {dtype}', seed)


# Relative error of the fused cosine under autocast against fp32: its row dot
# product runs in the autocast dtype, whose rounding (2**-9 relative for
# bf16's 8 significant bits, 2**-12 for fp16's 11) enters the weight and the
# averaged rows a few times; measured 3e-3 for bf16 on the CPU.
AUTOCAST_RTOL = {torch.bfloat16: 1e-2, torch.float16: 2e-3}


def test_stereo_cosine_under_autocast(amp):
    _fresh_seed()
    indices, both, feats = _stereo_inputs(2, 100, [(6, 7), (3, 4)],
                                          torch.float32, amp.device)
    expected = ops.stereo_cosine_reference(indices, both, feats)
    with amp.autocast():
        value = ops.stereo_cosine_fusion(indices, both, feats)
        value.sum().backward()
    assert value.dtype == torch.float32
    err = ((value.double() - expected.double()).abs().max() /
           expected.abs().max()).item()
    assert err <= AUTOCAST_RTOL[amp.dtype]
    assert all(torch.isfinite(f.grad).all() for f in feats)


def test_stereo_cosine_by_hand(device):
    # one 1x1 map per view, one voxel seen by both views, one by view 0 only
    f0 = torch.tensor([3.0, 4.0])
    f1 = torch.tensor([4.0, 3.0])
    feat = torch.stack([f0, f1])[None, :, :, None, None]  # (1, 2, 2, 1, 1)
    index = torch.tensor([[0, 0], [1, 2]], dtype=torch.int32)
    both = torch.tensor([[True], [False]])
    out = ops.stereo_cosine_fusion([[index.to(device)]], [both.to(device)],
                                   [feat.to(device)]).cpu()
    cos = 24 / 25
    assert torch.allclose(out[0, 0], cos * (f0 + f1) / 2)
    assert torch.allclose(out[0, 1], f0 / 2)
    assert math.isclose(
        F.cosine_similarity(f0, f1, dim=0).item(), cos, rel_tol=1e-6)
