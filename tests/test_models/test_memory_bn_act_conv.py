"""BN -> activation -> conv keeping one tensor for backward (bn_act_conv),
and the SSC head's ASPP that uses it: less memory, the same numbers."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from projects.OccDepth.occdepth.models.occ_heads.blocks3d import (
    ASPP3D, SegmentationHeadCascade)
from projects.OccDepth.occdepth.models.ops import (bn_act_conv,
                                                   bn_act_conv_reference)
from tests.test_models.saved_tensors import saved_floats


def test_bn_act_conv_by_hand():
    # x = [1, 3]: mean 2, biased var 1 (eps 0) -> x_hat = [-1, 1];
    # BN weight 2, bias 0.5 -> [-1.5, 2.5]; ReLU -> [0, 2.5]; 1x1 conv 3.
    bn = nn.BatchNorm2d(1, eps=0.0, momentum=0.5).train()
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(0.5)
        conv.weight.fill_(3.0)
    x = torch.tensor([[[[1.0, 3.0]]]], requires_grad=True)
    out = bn_act_conv(x, bn, 0.0, conv)
    assert out.flatten().tolist() == [0.0, 7.5]
    # running mean 0.5 * 0 + 0.5 * 2; var 0.5 * 1 + 0.5 * 2 (unbiased)
    assert bn.running_mean.tolist() == [1.0]
    assert bn.running_var.tolist() == [1.5]
    assert bn.num_batches_tracked.item() == 1
    out.sum().backward()
    # grad of the activation 3, masked -> [0, 3]: d bias 3, d weight
    # sum(g * x_hat) = 3, d conv weight sum(1 * [0, 2.5]) = 2.5; d x =
    # 2 * (g - mean g - x_hat * mean(g * x_hat)) = 2 * ([0, 3] - 1.5 -
    # [-1, 1] * 1.5) = [0, 0]
    assert bn.bias.grad.tolist() == [3.0]
    assert bn.weight.grad.tolist() == [3.0]
    assert conv.weight.grad.flatten().tolist() == [2.5]
    assert x.grad.flatten().tolist() == [0.0, 0.0]


@pytest.mark.parametrize('dim,channels_last,slope,conv_kwargs', [
    (3, False, 0.0, dict(padding=2, dilation=2)),
    (3, True, 0.0, dict(padding=1, stride=2)),
    (2, False, 0.01, dict(padding=1, groups=2)),
    (2, True, 0.01, dict(padding=0, bias=False)),
])
def test_bn_act_conv_matches_reference(dim, channels_last, slope, conv_kwargs):
    torch.manual_seed(0)
    bn_cls, conv_cls = ((nn.BatchNorm3d, nn.Conv3d) if dim == 3 else
                        (nn.BatchNorm2d, nn.Conv2d))
    bn = bn_cls(4, momentum=0.3).double().train()
    conv = conv_cls(4, 6, 3, **conv_kwargs).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn((2, 4) + (6, 7, 5)[:dim], dtype=torch.float64) * 3 + 1
    if channels_last:
        fmt = torch.channels_last_3d if dim == 3 else torch.channels_last
        conv = conv.to(memory_format=fmt)
        x = x.contiguous(memory_format=fmt)
    results = []
    for op in (bn_act_conv_reference, bn_act_conv):
        b, c = copy.deepcopy(bn), copy.deepcopy(conv)
        xi = x.clone().requires_grad_()
        out = op(xi, b, slope, c)
        out.backward(
            torch.linspace(-1, 2, out.numel(), dtype=out.dtype).view_as(out))
        results.append([out, xi.grad] +
                       [p.grad for p in [*b.parameters(), *c.parameters()]] +
                       list(b.buffers()))
    for ref, new in zip(*results):
        torch.testing.assert_close(new, ref, rtol=1e-12, atol=1e-12)


def test_bn_act_conv_rejects_eval_bn():
    bn = nn.BatchNorm2d(2).eval()
    with pytest.raises(ValueError, match='training mode'):
        bn_act_conv(torch.zeros(1, 2, 3, 3), bn, 0.0, nn.Conv2d(2, 2, 1))


def test_aspp_keeps_one_tensor_per_branch():
    torch.manual_seed(0)
    aspp = ASPP3D(2, (1, 2, 3)).train()
    x = torch.randn(1, 2, 2, 3, 4, requires_grad=True)
    sizes, _ = saved_floats(aspp, lambda: aspp.aspp(x))
    # C V = 2 * 24 = 48: the input (shared by the three conv1) and the
    # final ReLU output; per branch x_hat of bn1 with its inverse std (2),
    # and bn2's input with its mean and inverse std (2 + 2). Before:
    # also bn1's mean (2) and the ReLU output beside bn1's input.
    assert sizes == sorted([48, 48] + [48, 2, 48, 2, 2] * 3)


@pytest.mark.parametrize('channels_last', [False, True])
def test_cascade_head_training_matches_module_chain(channels_last):
    torch.manual_seed(0)
    head = SegmentationHeadCascade(4, 4, 5).double().train()
    with torch.no_grad():
        for bn in head.bn1:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    plain = copy.deepcopy(head)
    x = torch.randn(2, 4, 6, 5, 4, dtype=torch.float64)
    if channels_last:
        head.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def plain_forward(x):
        x = F.relu(plain.conv0(x))
        y = x
        for conv1, bn1, conv2, bn2 in zip(plain.conv1, plain.bn1, plain.conv2,
                                          plain.bn2):
            y = y + bn2(conv2(F.relu(bn1(conv1(x)))))
        x = F.relu(y)
        occ = plain.occ_classes(x)
        return plain.conv_classes(torch.cat([x, occ.softmax(1)], 1)), occ

    x1 = x.clone().requires_grad_()
    x2 = x.detach().contiguous().requires_grad_()
    outs = head(x1)
    refs = plain_forward(x2)
    grads = [torch.randn_like(r) for r in refs]
    torch.autograd.backward(outs, grads)
    torch.autograd.backward(refs, grads)
    for out, ref in zip(outs, refs):
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)
    for p, q in zip(head.parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)
    for b, c in zip(head.buffers(), plain.buffers()):
        torch.testing.assert_close(b, c)
