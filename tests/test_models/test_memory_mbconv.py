"""Recomputed element-wise chains (recompute_prefix_conv): the encoder's
MBConv blocks (mbconv_forward) and the SSC head's up_l1_lfull BN -> ReLU ->
conv0 keep only convolution outputs: less memory, the same bits.

Every comparison is ``torch.equal``: the backward pass re-runs the same
element-wise kernels on the same saved input, so nothing may differ, not
even in the last bit, at one or two threads, with drop connect. Whole
training runs: tests/test_runtime/test_memory_ops_runs.py.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from torch import nn

from projects.OccDepth.occdepth.models.backbones import EfficientNetUNet2D
from projects.OccDepth.occdepth.models.backbones import \
    efficientnet_unet2d as unet2d
from projects.OccDepth.occdepth.models.occ_heads import blocks3d, ssc_head
from projects.OccDepth.occdepth.models.ops import (
    mbconv_forward, mbconv_forward_reference, recompute_prefix_conv,
    recompute_prefix_conv_reference)
from projects.OccDepth.occdepth.models.ops.mbconv import same_padding
from projects.OccDepth.occdepth.models.ops.recompute_conv import batch_norm
from tests.test_models.saved_tensors import saved_floats


def _equal(new, ref, what):
    assert (new is None) == (ref is None), what
    if ref is not None:
        assert new.shape == ref.shape, what
        assert torch.equal(new, ref), what


def test_recompute_prefix_conv_by_hand():
    # prefix: ReLU then pad 1 on the right; x = [-1, 2] -> [0, 2, 0];
    # 1x2 conv of weight [3, 5], bias 1 -> [0*3 + 2*5 + 1, 2*3 + 0*5 + 1]
    def prefix(t, recompute):
        return F.pad(t.relu(), [0, 1])

    x = torch.tensor([[[[-1.0, 2.0]]]], requires_grad=True)
    weight = torch.tensor([[[[3.0, 5.0]]]], requires_grad=True)
    bias = torch.tensor([1.0], requires_grad=True)
    sizes, out = saved_floats(
        nn.Module(), lambda: recompute_prefix_conv(prefix, x, [], weight, bias,
                                                   (1, 1), (0, 0), (1, 1), 1))
    assert out.flatten().tolist() == [11.0, 7.0]
    # x and the weight only; the plain chain adds ReLU's output and the
    # padded copy
    assert sizes == [2, 2]
    plain, _ = saved_floats(
        nn.Module(),
        lambda: recompute_prefix_conv_reference(prefix, x, [], weight, bias,
                                                (1, 1), (0, 0), (1, 1), 1))
    assert plain == [2, 2, 3]
    out.backward(torch.tensor([[[[1.0, 10.0]]]]))
    # d padded = [3, 5 + 30, 50]; d x = ReLU mask [0, 1] * [3, 35]
    assert x.grad.flatten().tolist() == [0.0, 35.0]
    # d weight = [1 * 0 + 10 * 2, 1 * 2 + 10 * 0]; d bias = 11
    assert weight.grad.flatten().tolist() == [20.0, 2.0]
    assert bias.grad.tolist() == [11.0]


@pytest.mark.parametrize('training', [True, False])
def test_batch_norm_recomputation_is_the_layer_bitwise(training):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(5, eps=1e-3, momentum=0.1).train(training)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 5, 13, 17) * 3 + 1
    state = copy.deepcopy(bn.state_dict())
    outs, grads = [], []
    for recompute in (False, True):
        xi = x.clone().requires_grad_()
        out = batch_norm(bn, xi, recompute)
        out.backward(torch.cos(out.detach()))
        outs.append(out)
        grads.append([xi.grad] + [p.grad for p in bn.parameters()])
        bn.zero_grad()
        if not recompute and training:
            assert bn.num_batches_tracked.item() == 1
            after = copy.deepcopy(bn.state_dict())
    # the recomputation leaves the buffers as the first call left them
    for key, value in bn.state_dict().items():
        _equal(value, (after if training else state)[key], key)
    _equal(outs[1], outs[0], 'output')
    for new, ref in zip(grads[1], grads[0]):
        _equal(new, ref, 'gradient')


def _b0(drop_connect_rate=0.0):
    torch.manual_seed(0)
    net = EfficientNet.from_name(
        'efficientnet-b0',
        image_size=None,
        include_top=False,
        drop_connect_rate=drop_connect_rate)
    # random BN affine maps and statistics, so that no value is special
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net.train()


def _run_block(block, x, rate, stem, op, seed):
    block = copy.deepcopy(block)
    stem = copy.deepcopy(stem)
    x = x.clone().requires_grad_()
    torch.manual_seed(seed)
    out = op(block, x, rate, *stem)
    out.backward(torch.sin(3 * out.detach()))
    modules = [block] + [m for m in stem if m is not None]
    return ([out, x.grad] + [p.grad for m in modules for p in m.parameters()] +
            [b for m in modules for b in m.buffers()])


# blocks of efficientnet-b0: 0 expand 1 after the stem (k3 s1, 32 -> 16),
# 1 expand 6 (k3 s2), 2 expand 6 with the skip (k3 s1), 3 k5 s2, 4 k5 s1
# with the skip
@pytest.mark.parametrize('index,rate,size', [
    (0, None, (2, 32, 12, 15)),
    (1, None, (2, 16, 11, 14)),
    (2, 0.5, (3, 24, 7, 9)),
    (3, None, (2, 24, 9, 8)),
    (4, 0.3, (2, 40, 5, 6)),
])
@pytest.mark.parametrize('threads', [1, 2])
def test_mbconv_forward_is_the_package_forward_bitwise(index, rate, size,
                                                       threads):
    torch.set_num_threads(threads)
    net = _b0()
    torch.manual_seed(1)
    x = torch.randn(size) * 2
    stem = (net._bn0, net._swish) if index == 0 else (None, None)
    ref = _run_block(
        net._blocks[index], x, rate, stem, mbconv_forward_reference, seed=5)
    new = _run_block(net._blocks[index], x, rate, stem, mbconv_forward, seed=5)
    assert len(new) == len(ref)
    for i, (a, b) in enumerate(zip(new, ref)):
        _equal(a, b, f'block {index}, tensor {i}')
    if rate:
        # drop connect drew a mask: another seed gives another output
        other = _run_block(
            net._blocks[index], x, rate, stem, mbconv_forward, seed=6)
        assert not torch.equal(other[0], new[0])


def test_mbconv_saves_only_convolution_outputs():
    net = _b0()
    block = net._blocks[1]  # expand 16 -> 96, k3 s2, SE 96 -> 4, -> 24
    x = torch.randn(1, 16, 8, 10, requires_grad=True)
    sizes, _ = saved_floats(block, lambda: mbconv_forward(block, x))
    # expand conv input 16*8*10; depthwise conv input recomputed from the
    # expand conv output 96*8*10; project conv input recomputed from the
    # depthwise output 96*4*5; the last BN: its input 24*4*5, mean and
    # inverse std (24 each)
    assert sizes == [24, 24, 480, 1280, 1920, 7680]
    plain, _ = saved_floats(block, lambda: mbconv_forward_reference(block, x))
    # the package's forward also keeps the BN outputs (swish inputs) 96*8*10
    # and 96*4*5, the padded copy 96*9*11, the swish output and the gated
    # tensor 96*4*5 each, mean and inverse std of two BNs (4*96), the
    # squeeze-excitation's pooled 96, its swish input
    # and output 4 + 4 and its gate 96
    extra = 7680 + 1920 + 9504 + 2 * 1920 + 4 * 96 + 96 + 4 + 4 + 96
    assert sum(plain) - sum(sizes) == extra


def _backbone_step(backbone, imgs, seed):
    backbone = copy.deepcopy(backbone).train()
    torch.manual_seed(seed)
    feats = backbone(imgs)
    loss = sum((f * torch.cos(f.detach())).sum() for f in feats)
    loss.backward()
    return ([loss] + [p.grad for p in backbone.parameters()] +
            list(backbone.buffers()))


@pytest.mark.parametrize('arch,threads', [('b0', 2), ('b3', 1)])
def test_backbone_training_step_is_unchanged_bitwise(arch, threads,
                                                     monkeypatch):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    backbone = EfficientNetUNet2D(
        arch=arch, out_channels=4, drop_connect_rate=0.2)
    imgs = torch.randn(2, 2, 3, 37, 50)
    new = _backbone_step(backbone, imgs, seed=3)
    # the encoder as it ran before: the package's own block forward
    monkeypatch.setattr(unet2d, 'mbconv_forward', mbconv_forward_reference)
    ref = _backbone_step(backbone, imgs, seed=3)
    for i, (a, b) in enumerate(zip(new, ref)):
        _equal(a, b, f'tensor {i}')


def test_encoder_saves_less(monkeypatch):
    torch.manual_seed(0)
    backbone = EfficientNetUNet2D(arch='b0', out_channels=4).train()
    imgs = torch.randn(1, 3, 64, 96)
    sizes, _ = saved_floats(backbone, lambda: backbone.encode(imgs))
    monkeypatch.setattr(unet2d, 'mbconv_forward', mbconv_forward_reference)
    ref, _ = saved_floats(backbone, lambda: backbone.encode(imgs))
    # five of the seven expanded-width tensors of every block are gone
    # (0.29 at this size)
    assert sum(sizes) < sum(ref) / 3


def _head_step(head, x):
    head = copy.deepcopy(head)
    x = x.clone().requires_grad_()
    sizes, (ssc, occ) = saved_floats(head, lambda: head._output_resolution(x))
    ((ssc * torch.cos(ssc.detach())).sum() + occ.sum()).backward()
    return sizes, ([ssc, occ, x.grad] + [p.grad for p in head.parameters()] +
                   list(head.buffers()))


@pytest.mark.parametrize('channels_last,threads', [(False, 2), (True, 1)])
def test_head_output_resolution_saves_less_bitwise(channels_last, threads,
                                                   monkeypatch):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    head = ssc_head.SSCHead(
        8, 5, context_prior=False, channels_last=channels_last).train()
    with torch.no_grad():
        for m in head.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    x = torch.randn(2, 8, 4, 6, 3)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    sizes, new = _head_step(head, x)
    monkeypatch.setattr(blocks3d, 'recompute_prefix_conv',
                        recompute_prefix_conv_reference)
    plain, ref = _head_step(head, x)
    for i, (a, b) in enumerate(zip(new, ref)):
        _equal(a, b, f'tensor {i}')
    # up_l1_lfull's output, 2 * 4 * 8*12*6 floats: its BN input (with
    # channels-last a contiguous copy) and its ReLU output (conv0's input)
    # -> the transposed conv's output; the BN's mean and inverse std (4 + 4)
    # are recomputed too
    assert sum(plain) - sum(sizes) == 2 * 4 * 8 * 12 * 6 + 8


def test_same_padding_needs_a_same_padding_conv():
    with pytest.raises(TypeError, match='got Conv2d'):
        same_padding(nn.Conv2d(1, 1, 3), torch.zeros(1, 1, 4, 4))
