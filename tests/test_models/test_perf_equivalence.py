"""Optimised modules against their plain formulations.

The ops of ``models/ops`` are tested against their references in
test_ops.py; here whole modules are. Each test draws fresh random inputs
(the seed is part of every failure message), runs the optimised code and a
plain, obviously-correct version of the same formula, and compares values
and gradients to 1e-5 relative to the largest magnitude. Speed is measured
by tools/analysis_tools/benchmark.py, never here.
"""
import math
import random

import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS

from projects.OccDepth.occdepth.models.occ_heads.blocks3d import (
    LayoutPreservingBatchNorm3d, SegmentationHeadCascade)
from projects.OccDepth.occdepth.models.ops import stereo_cosine
from projects.OccDepth.occdepth.models.utils import geometry
from projects.OccDepth.occdepth.models.view_transformers import StereoSFA

RTOL = 1e-5
ORIGIN = (0.0, -25.6, -2.0)


def _fresh_seed() -> int:
    seed = random.SystemRandom().randrange(2**31)
    torch.manual_seed(seed)
    return seed


def _close(actual: torch.Tensor, expected: torch.Tensor, what: str,
           seed: int) -> None:
    scale = expected.abs().max().clamp_min(1e-30)
    err = ((actual - expected).abs().max() / scale).item()
    assert actual.shape == expected.shape, f'{what} (seed {seed}): shape'
    assert err <= RTOL, f'{what} (seed {seed}): relative error {err:.2e}'


def _stereo_cameras(batch: int, img_hw, views: int = 2) -> torch.Tensor:
    """KITTI-like rigs with random jitter; odd samples flipped."""
    h, w = img_hw
    mats = []
    for i in range(batch):
        f = w * (0.55 + 0.1 * torch.rand(()).item())
        k = torch.tensor([[f, 0, w / 2 + torch.randn(
            ()).item()], [0, f, h / 2], [0, 0, 1]],
                         dtype=torch.float64)
        base = torch.tensor(
            [[0, -1, 0, 0], [0, 0, -1, 0.1], [1, 0, 0, -0.3], [0, 0, 0, 1]],
            dtype=torch.float64)
        cams = []
        for v in range(views):
            cam = base.clone()
            cam[0, 3] = -0.54 * v + 0.05 * torch.randn(()).item()
            cams.append(cam)
        flip = None
        if i % 2:
            flip = torch.as_tensor(geometry.horizontal_flip_matrix(w))
        mats.append(
            geometry.build_lidar2img(
                k.expand(views, 3, 3), torch.stack(cams), flip))
    return torch.stack(mats)


def plain_sfa(sfa: StereoSFA, feats, lidar2img, img_hw) -> torch.Tensor:
    """The direct formulation: per-scale gather from padded maps and fusion
    of ``(B, V, C, N)`` samples (the implementation before optimisation)."""
    pix, fov = sfa.project(lidar2img, img_hw)
    volume = None
    for feat, scale in zip(feats, sfa.scales):
        b, v, c, h, w = feat.shape
        pix_s = torch.div(pix, scale, rounding_mode='floor')
        index = pix_s[..., 1] * w + pix_s[..., 0]
        index = torch.where(fov, index, torch.full_like(index, h * w))
        flat = F.pad(feat.reshape(b, v, c, h * w), (0, 1))
        samples = torch.gather(flat, 3,
                               index.unsqueeze(2).expand(-1, -1, c, -1))
        seen = fov.to(samples.dtype)
        if sfa.fusion == 'concat':
            fused = samples.reshape(b, v * c, -1)
        elif v == 1:
            fused = samples[:, 0]
        elif sfa.fusion == 'mean':
            fused = samples.sum(1) / seen.sum(1).clamp_min(1).unsqueeze(1)
        else:
            weights = [0] * v
            for i in range(v):
                for j in range(i + 1, v):
                    cos = F.cosine_similarity(
                        samples[:, i], samples[:, j], dim=1, eps=1e-8)
                    both = cos * seen[:, i] * seen[:, j]
                    weights[i] = weights[i] + both + seen[:,
                                                          i] * (1 - seen[:, j])
                    weights[j] = weights[j] + both + seen[:,
                                                          j] * (1 - seen[:, i])
            weight = torch.stack(weights, dim=1).unsqueeze(2)
            fused = (samples * weight).sum(1) / (v * (v - 1))
        volume = fused if volume is None else volume + fused
    volume = volume.reshape(b, -1, *sfa.grid_size)
    if sfa.fusion == 'concat':
        volume = sfa.reduce(volume)
    return volume


SFA_CASES = [
    ('cosine', 2, torch.float32),
    ('cosine', 2, torch.float64),
    ('cosine', 3, torch.float32),
    ('cosine', 1, torch.float32),
    ('mean', 2, torch.float32),
    ('concat', 2, torch.float32),
]


@pytest.mark.parametrize('fusion,views,dtype', SFA_CASES)
def test_sfa_matches_plain_formulation(fusion, views, dtype, monkeypatch):
    seed = _fresh_seed()
    # a few voxels per chunk so that chunk boundaries are crossed
    monkeypatch.setattr(stereo_cosine, 'CHUNK', 97)
    img_hw = (24, 70)  # odd scale-8 size: ceil -> padded maps
    scales = (1, 2, 4, 8)
    # in_channels and num_views size the concat reduction only
    reduction = dict(in_channels=5, num_views=views)
    sfa = StereoSFA((16, 16, 4),
                    1.6, (0.0, -12.8, -2.0),
                    scales=scales,
                    fusion=fusion,
                    **(reduction if fusion == 'concat' else {})).to(dtype)
    lidar2img = _stereo_cameras(2, img_hw, views)
    feats = [
        torch.randn(
            2,
            views,
            5,
            math.ceil(img_hw[0] / s) + (s == 2),
            math.ceil(img_hw[1] / s),
            dtype=dtype,
            requires_grad=True) for s in scales
    ]
    out = sfa(feats, lidar2img, img_hw)
    expected = plain_sfa(sfa, feats, lidar2img, img_hw)
    _close(out, expected, f'{fusion} V={views} values', seed)
    assert out.abs().sum() > 0 and out.is_contiguous()
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, feats, grad_out)
    expected_grads = torch.autograd.grad(expected, feats, grad_out)
    for s, g, e in zip(scales, grads, expected_grads):
        _close(g, e, f'{fusion} V={views} grad scale {s}', seed)
    if fusion == 'concat':
        params = list(sfa.parameters())
        got = torch.autograd.grad(
            sfa(feats, lidar2img, img_hw), params, grad_out)
        want = torch.autograd.grad(
            plain_sfa(sfa, feats, lidar2img, img_hw), params, grad_out)
        for g, e in zip(got, want):
            _close(g, e, 'concat reduce grad', seed)


def test_sfa_cache_reuses_and_separates_cameras():
    seed = _fresh_seed()
    img_hw = (16, 40)
    sfa = StereoSFA((8, 8, 2), 3.2, (0.0, -12.8, -2.0), scales=(1, 2))
    lidar2img = _stereo_cameras(2, img_hw)
    feats = [torch.randn(2, 2, 3, 16 // s, 40 // s) for s in (1, 2)]
    first = sfa(feats, lidar2img, img_hw)
    assert len(sfa.cache) == 2  # one entry per camera set-up
    again = sfa(feats, lidar2img, img_hw)
    assert len(sfa.cache) == 2
    assert torch.equal(first, again)
    # the flipped rig of sample 1 used for sample 0 too: a hit, same values
    swapped = sfa([f.flip(0) for f in feats], lidar2img.flip(0), img_hw)
    assert len(sfa.cache) == 2
    assert torch.equal(swapped, first.flip(0))
    # another image size or another matrix is a new entry
    moved = lidar2img.clone()
    moved[0, 0, 0, 3] += 1.0
    _close(
        sfa(feats, moved, img_hw), plain_sfa(sfa, feats, moved, img_hw),
        'moved camera', seed)
    assert len(sfa.cache) == 3
    uncached = StereoSFA((8, 8, 2),
                         3.2, (0.0, -12.8, -2.0),
                         scales=(1, 2),
                         cache_size=0)
    assert torch.equal(uncached(feats, lidar2img, img_hw), first)
    assert len(uncached.cache) == 0


def test_camera_cache_is_lru():
    cache = geometry.CameraCache(2)
    calls = []

    def make(value):
        return lambda: calls.append(value) or value

    assert cache.get(('a', ), make(1)) == 1
    assert cache.get(('b', ), make(2)) == 2
    assert cache.get(('a', ), make(9)) == 1  # hit, 'a' becomes recent
    assert cache.get(('c', ), make(3)) == 3  # evicts 'b'
    assert cache.get(('b', ), make(4)) == 4
    assert calls == [1, 2, 3, 4]
    mat = torch.eye(4, dtype=torch.float64)[None]
    assert cache.key(mat, (1, 2)) == cache.key(mat.clone(), (1, 2))
    assert cache.key(mat, (1, 2)) != cache.key(mat * 2, (1, 2))
    with pytest.raises(ValueError, match='max_entries'):
        geometry.CameraCache(-1)


def test_cached_frustum_cells_match_direct_projection():
    from mmengine.config import Config
    seed = _fresh_seed()
    cfg = Config.fromfile('configs/_base_/models/occdepth.py').model
    # the model hands the grid (SFA / OAD: 8 x 8 x 8 voxels) to its parts
    cfg.update(
        grid_size=(16, 16, 16),
        voxel_size=3.2,
        voxel_origin=ORIGIN,
        feature_channels=8)
    cfg.backbone.update(arch='b0')
    cfg.depth_head.update(mid_channels=8)
    model = MODELS.build(cfg)
    img_hw = (20, 64)
    lidar2img = _stereo_cameras(2, img_hw)
    size = model.occ_head.frustum_size
    direct = model._compute_frustum_cells(lidar2img, img_hw, size)
    cached = model.frustum_cells(lidar2img, img_hw)
    assert cached.dtype == torch.long
    assert torch.equal(cached, direct), f'seed {seed}'
    assert len(model.frustum_cache) == 2
    assert torch.equal(model.frustum_cells(lidar2img, img_hw), direct)
    assert len(model.frustum_cache) == 2
    assert (direct >= 0).any() and (direct == -1).any()


@pytest.mark.parametrize('training', [True, False])
def test_layout_preserving_batchnorm_matches_batchnorm3d(training):
    seed = _fresh_seed()
    plain = torch.nn.BatchNorm3d(6, momentum=0.3)
    with torch.no_grad():
        plain.weight.uniform_(0.5, 2.0)
        plain.bias.normal_()
        plain.running_mean.normal_()
        plain.running_var.uniform_(0.5, 2.0)
    layout = LayoutPreservingBatchNorm3d(6, momentum=0.3)
    layout.load_state_dict(plain.state_dict())
    plain.train(training)
    layout.train(training)
    x = torch.randn(2, 6, 5, 7, 3) * 3 + 1
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    x.requires_grad_()
    x_cl.requires_grad_()
    expected = plain(x)
    out = layout(x_cl)
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    _close(out, expected, 'BN output', seed)
    grad_out = torch.randn_like(expected)
    got = torch.autograd.grad(out, [x_cl, layout.weight, layout.bias],
                              grad_out)
    want = torch.autograd.grad(expected, [x, plain.weight, plain.bias],
                               grad_out)
    for name, g, e in zip(('input', 'weight', 'bias'), got, want):
        _close(g, e, f'BN {name} grad', seed)
    for name in ('running_mean', 'running_var', 'num_batches_tracked'):
        assert torch.equal(getattr(layout, name), getattr(plain, name)), name
    # contiguous inputs take the plain path
    assert layout(x.detach()).is_contiguous()


def _run_with_relu_signs(module, x):
    """``module(x)`` and the sign pattern of the input of every ReLU call."""
    signs = []
    hooks = [
        m.register_forward_pre_hook(
            lambda mod, args: signs.append(args[0].detach() > 0))
        for m in module.modules() if isinstance(m, torch.nn.ReLU)
    ]
    try:
        return module(x), signs
    finally:
        for hook in hooks:
            hook.remove()


def _output_stages(head):
    stages = [head.ssc_head]
    if head.variant == 'kitti':
        stages.insert(0, head.up_l1_lfull)
    return torch.nn.Sequential(*stages)


HEAD_CASES = [('kitti', True, 2), ('kitti', False, 2), ('kitti', True, 1),
              ('nyu', True, 1)]


@pytest.mark.parametrize('variant,decoupled,project_scale', HEAD_CASES)
def test_channels_last_head_matches_contiguous(variant, decoupled,
                                               project_scale):
    seed = _fresh_seed()
    cfg = dict(
        type='SSCHead',
        in_channels=16,
        num_classes=5,
        variant=variant,
        grid_size=(8, 8, 8),
        project_scale=project_scale,
        decoupled=decoupled)
    plain = MODELS.build(cfg)
    fast = MODELS.build(dict(cfg, channels_last=True))
    for module in plain.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            with torch.no_grad():
                module.weight.uniform_(0.5, 2.0)
                module.bias.normal_()
    fast.load_state_dict(plain.state_dict())
    for p in _output_stages(fast).parameters():
        if p.dim() == 5:
            assert p.is_contiguous(memory_format=torch.channels_last_3d)

    # the output-resolution stages alone: values and every gradient
    plain_stages, fast_stages = _output_stages(plain), _output_stages(fast)
    for _ in range(5):
        x = torch.randn(2, 16, 8, 8, 8, requires_grad=True)
        x_cl = x.detach().contiguous(
            memory_format=torch.channels_last_3d).requires_grad_()
        expected, plain_signs = _run_with_relu_signs(plain_stages, x)
        out, fast_signs = _run_with_relu_signs(fast_stages, x_cl)
        # A ReLU input within rounding of 0 may fall on either side in the
        # two summation orders; the gradients then differ by design. Draw
        # again (it happens for about one draw in a few hundred).
        if all(map(torch.equal, plain_signs, fast_signs)):
            break
    else:
        pytest.fail(f'ReLU inputs straddled 0 in five draws (seed {seed})')
    if decoupled:
        expected, out = torch.cat(expected, 1), torch.cat(out, 1)
    _close(out, expected, f'{variant} head output', seed)
    grad_out = torch.randn_like(expected)
    got = torch.autograd.grad(out, [x_cl, *fast_stages.parameters()], grad_out)
    want = torch.autograd.grad(expected, [x, *plain_stages.parameters()],
                               grad_out)
    _close(got[0], want[0], f'{variant} input grad', seed)
    # parameters together: the transposed conv's bias, followed by a
    # batch-statistics BN, has a zero gradient up to rounding
    _close(
        torch.cat([g.flatten() for g in got[1:]]),
        torch.cat([e.flatten() for e in want[1:]]),
        f'{variant} parameter grads', seed)

    # the whole head, in training and eval: contiguous outputs, same values
    volume = torch.randn(2, 16, 8, 8, 8)
    for training in (True, False):
        plain.train(training)
        fast.train(training)
        expected = plain(volume)
        outputs = fast(volume)
        assert outputs.keys() == expected.keys()
        for key, value in outputs.items():
            assert value.is_contiguous(), key
            _close(value, expected[key], f'{variant} {key} train={training}',
                   seed)
    for (name, a), b in zip(fast.named_buffers(), plain.buffers()):
        _close(a.double(), b.double(), f'buffer {name}', seed)


def test_channels_last_backbone_matches_contiguous_in_eval():
    seed = _fresh_seed()
    cfg = dict(
        type='EfficientNetUNet2D',
        arch='b0',
        out_channels=8,
        out_scales=(1, 2, 4, 8),
        share_gradient=True)
    plain = MODELS.build(cfg).eval()
    fast = MODELS.build(dict(cfg, channels_last=True)).eval()
    fast.load_state_dict(plain.state_dict())
    imgs = torch.randn(2, 2, 3, 24, 70)
    with torch.no_grad():
        expected = plain(imgs)
        outs = fast(imgs)
    for scale, out, want in zip((1, 2, 4, 8), outs, expected):
        _close(out, want, f'eval scale {scale}', seed)
    assert not outs[1].is_contiguous(), 'eval did not run channels-last'
    # training keeps the contiguous layout and so the plain numbers exactly
    fast.train()
    plain.train()
    for scale, out, want in zip((1, 2, 4, 8), fast(imgs), plain(imgs)):
        assert out.is_contiguous() and torch.equal(out, want), scale


@pytest.mark.parametrize('channels_last', [False, True])
def test_cascade_head_matches_concatenation(channels_last):
    seed = _fresh_seed()
    head = SegmentationHeadCascade(6, 6, 5)
    x = torch.randn(2, 6, 6, 5, 4)
    if channels_last:
        head.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    x.requires_grad_()

    def plain(x):
        feat = head.aspp(head.relu(head.conv0(x)))
        occ = head.occ_classes(feat)
        return head.conv_classes(torch.cat([feat, occ.softmax(dim=1)], 1)), occ

    params = list(head.parameters())
    ssc, occ = head(x)
    ssc_ref, occ_ref = plain(x)
    _close(ssc, ssc_ref, 'ssc logits', seed)
    _close(occ, occ_ref, 'occ logits', seed)
    grad_ssc, grad_occ = torch.randn_like(ssc), torch.randn_like(occ)
    got = torch.autograd.grad([ssc, occ], [x, *params], [grad_ssc, grad_occ])
    want = torch.autograd.grad([ssc_ref, occ_ref], [x, *params],
                               [grad_ssc, grad_occ])
    _close(got[0], want[0], 'input grad', seed)
    for (name, _), g, e in zip(head.named_parameters(), got[1:], want[1:]):
        _close(g, e, f'{name} grad', seed)
