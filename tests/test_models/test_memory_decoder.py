"""Memory of the 2D decoder's training step, and the same numbers as before.

The decoder stage keeps neither the concatenated input of its first
convolution nor a BN output beside each LeakyReLU for the backward pass
(``UpSampleBN``, ``models/ops/upsample_concat_conv.py``).
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import \
    UpSampleBN
from projects.OccDepth.occdepth.models.ops import (
    upsample_concat_conv, upsample_concat_conv_reference)
from tests.test_models.saved_tensors import saved_floats


def test_upsample_concat_conv_by_hand():
    # x (1, 1, 1, 2) = [1, 3] upsamples (align_corners) to [1, 2, 3];
    # skip [4, 5, 6]; 1x1 conv weights (2, -1), bias 0.5.
    x = torch.tensor([[[[1., 3.]]]], requires_grad=True)
    skip = torch.tensor([[[[4., 5., 6.]]]], requires_grad=True)
    weight = torch.tensor([[[[2.]], [[-1.]]]], requires_grad=True)
    bias = torch.tensor([0.5], requires_grad=True)
    out = upsample_concat_conv(x, skip, weight, bias, 0)
    # 2 * [1, 2, 3] - [4, 5, 6] + 0.5
    assert out.flatten().tolist() == [-1.5, -0.5, 0.5]
    out.backward(torch.tensor([[[[1., 10., 100.]]]]))
    # d/dx: 2 * (1 + 10/2, 10/2 + 100) ; d/dskip: -1 * grad
    assert x.grad.flatten().tolist() == [12., 210.]
    assert skip.grad.flatten().tolist() == [-1., -10., -100.]
    # d/dw: (1*1 + 10*2 + 100*3, 1*4 + 10*5 + 100*6); d/db: 111
    assert weight.grad.flatten().tolist() == [321., 654.]
    assert bias.grad.tolist() == [111.]


@pytest.mark.parametrize('with_bias,padding,size', [(True, 1, (9, 13)),
                                                    (False, 0, (8, 8))])
def test_upsample_concat_conv_matches_reference(with_bias, padding, size):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 4, 6, generator=gen, dtype=torch.float64)
    skip = torch.randn(2, 3, *size, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 8, 3, 3, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    grad = torch.randn(
        2,
        4,
        size[0] + 2 * padding - 2,
        size[1] + 2 * padding - 2,
        generator=gen,
        dtype=torch.float64)
    results = []
    for op in (upsample_concat_conv_reference, upsample_concat_conv):
        inputs = [
            t.clone().requires_grad_()
            for t in (x, skip, weight) + ((bias, ) if with_bias else ())
        ]
        b = inputs[3] if with_bias else None
        out = op(inputs[0], inputs[1], inputs[2], b, padding)
        out.backward(grad)
        results.append([out] + [t.grad for t in inputs])
    for ref, new in zip(*results):
        torch.testing.assert_close(new, ref, rtol=1e-12, atol=1e-12)


def test_upsample_concat_conv_checks_channels():
    with pytest.raises(ValueError, match='input channels'):
        upsample_concat_conv(
            torch.zeros(1, 2, 2, 2), torch.zeros(1, 1, 4, 4),
            torch.zeros(1, 4, 3, 3), None, 1)


def test_decoder_stage_saves_less_with_the_same_numbers():
    torch.manual_seed(0)
    stage = UpSampleBN(6, 3).train()
    plain = copy.deepcopy(stage)
    x = torch.randn(1, 4, 4, 4, requires_grad=True)
    skip = torch.randn(1, 2, 8, 8, requires_grad=True)
    sizes, out = saved_floats(stage, lambda: stage(x, skip))
    # x (4*4*4) and skip (2*8*8) instead of their 6-channel concatenation
    # at 8x8; of the first conv-BN-LeakyReLU-conv only the normalised conv
    # output x_hat (3*8*8) and the inverse std (3); of the second BN its
    # input (3*8*8), mean and inverse std (3 + 3) and the activation (the BN
    # output overwritten in place).
    assert sizes == [3, 3, 3, 64, 128, 192, 192, 192]

    # the plain stage (LeakyReLU not in place, concatenated input) ...
    def plain_forward(x, skip):
        up = F.interpolate(x, size=(8, 8), mode='bilinear', align_corners=True)
        h = torch.cat([up, skip], dim=1)
        for layer in plain.layers:
            h = (
                F.leaky_relu(h)
                if isinstance(layer, torch.nn.LeakyReLU) else layer(h))
        return h

    x2 = x.detach().clone().requires_grad_()
    skip2 = skip.detach().clone().requires_grad_()
    plain_sizes, ref = saved_floats(plain, lambda: plain_forward(x2, skip2))
    # concatenation -> x and skip; the first BN's output and activation
    # (and mean) -> nothing (x_hat replaces the BN input); the second
    # LeakyReLU keeps its output instead of its input (same size)
    assert sum(plain_sizes) - sum(sizes) == 6 * 64 - (64 + 128) + 2 * 192 + 3
    # ... gives the same values, gradients and running statistics
    grad = torch.randn_like(ref)
    out.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(skip.grad, skip2.grad)
    for (name, p), q in zip(stage.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    for b, c in zip(stage.buffers(), plain.buffers()):
        torch.testing.assert_close(b, c)


def test_decoder_stage_in_eval_and_without_gradients():
    torch.manual_seed(0)
    stage = UpSampleBN(6, 3).eval()
    x = torch.randn(1, 4, 4, 4)
    skip = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        out = stage(x, skip)
        up = F.interpolate(x, size=(8, 8), mode='bilinear', align_corners=True)
        ref = F.leaky_relu(stage.layers[4](stage.layers[3](F.leaky_relu(
            stage.layers[1](stage.layers[0](torch.cat([up, skip], 1)))))))
    torch.testing.assert_close(out, ref)
