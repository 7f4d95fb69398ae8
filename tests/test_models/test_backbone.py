"""EfficientNetUNet2D: shapes, shared-gradient views and pretrained loading."""
import pytest
import torch
from efficientnet_pytorch import EfficientNet
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule

from projects.OccDepth.occdepth.models.backbones import EfficientNetUNet2D
from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import \
    convert_reference_unet2d


@pytest.fixture(scope='module')
def b0():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='EfficientNetUNet2D', arch='b0', out_channels=8))


def test_b0_structure():
    model = EfficientNetUNet2D('b0', out_channels=8, out_scales=(8, 16))
    # b0 stages have 1, 2, 2, 3, 3, 4, 1 blocks: stage ends 0, 2, 4, 10
    assert model.tap_blocks == (0, 2, 4, 10)
    assert model.num_features == 1280
    # only the stride-16 and stride-8 decoder stages are built
    assert model.decoder_scales == (16, 8)
    assert not hasattr(model, 'up4')
    # up16 takes F + 112 (stage 4) channels, up8 F/2 + 40 (stage 2)
    assert model.up16.layers[0].in_channels == 1280 + 112
    assert model.up8.layers[0].in_channels == 640 + 40
    assert model.up8.layers[0].out_channels == 320
    # the 1x1 bottleneck conv keeps the reference's padding=1
    assert model.bottleneck.padding == (1, 1)
    assert not hasattr(model.encoder, '_bn1')
    bn = model.encoder._blocks[0]._bn1
    assert (bn.eps, bn.momentum) == (1e-3, 0.1)


def test_output_shapes(b0):
    b0.train()
    outs = b0(torch.randn(1, 2, 3, 48, 160))
    assert [tuple(o.shape) for o in outs] == [(1, 2, 8, 48, 160),
                                              (1, 2, 8, 24, 80),
                                              (1, 2, 8, 12, 40),
                                              (1, 2, 8, 6, 20)]


def test_odd_input_sizes_round_up():
    model = EfficientNetUNet2D('b0', out_channels=4, out_scales=(2, 8, 16))
    model.eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 1, 3, 37, 61))
    # "SAME" padding: ceil(H / s) x ceil(W / s)
    assert [tuple(o.shape[-2:]) for o in outs] == [(19, 31), (5, 8), (3, 4)]


@pytest.mark.parametrize('share', [True, False])
def test_share_gradient(b0, share):
    b0.train()
    b0.share_gradient = share
    imgs = torch.randn(2, 2, 3, 32, 32, requires_grad=True)
    outs = b0(imgs)
    sum(o.sum() for o in outs).backward()
    assert imgs.grad[:, 0].abs().sum() > 0
    if share:
        assert (imgs.grad[:, 1] == 0).all()
    else:
        assert imgs.grad[:, 1].abs().sum() > 0
    b0.share_gradient = True


def test_eval_views_match_single_view_calls(b0):
    b0.eval()
    imgs = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        both = b0(imgs)
        right = b0(imgs[:, 1:])
    for o, r in zip(both, right):
        assert torch.allclose(o[:, 1:], r, atol=1e-5)


def test_with_cp_matches():
    """Checkpointing in training: same outputs, grads and BN statistics."""
    torch.manual_seed(0)
    plain = EfficientNetUNet2D('b0', out_channels=4, out_scales=(4, 8))
    ckpt = EfficientNetUNet2D(
        'b0', out_channels=4, out_scales=(4, 8), with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    imgs = torch.randn(2, 2, 3, 32, 32)
    for model in (plain, ckpt):
        model.train()
        for _ in range(2):  # running statistics updated twice, not four
            sum(o.square().mean() for o in model(imgs)).backward()
    for (name, a), b in zip(ckpt.named_parameters(), plain.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name
    for (name, a), b in zip(ckpt.named_buffers(), plain.buffers()):
        assert torch.equal(a, b), name


def test_pretrained_encoder_loads_exactly(tmp_path):
    torch.manual_seed(1)
    reference = EfficientNet.from_name('efficientnet-b0')
    state = reference.state_dict()
    for value in state.values():
        if value.is_floating_point():
            value.normal_()
    path = tmp_path / 'effnet_b0.pth'
    torch.save(state, path)
    model = EfficientNetUNet2D(
        'b0',
        out_channels=4,
        out_scales=(8, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    parent = BaseModule()  # as inside a detector: mmengine's recursion
    parent.backbone = model
    parent.init_weights()
    assert model.is_init
    loaded = model.encoder.state_dict()
    # every encoder tensor comes from the file; the classifier and the head
    # BN that the UNet never uses are the only keys left out
    assert set(state) - set(loaded) == {
        '_fc.weight', '_fc.bias', '_bn1.weight', '_bn1.bias',
        '_bn1.running_mean', '_bn1.running_var', '_bn1.num_batches_tracked'
    }
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key


def test_pretrained_rejects_wrong_file(tmp_path):
    path = tmp_path / 'effnet_b1.pth'
    torch.save(EfficientNet.from_name('efficientnet-b1').state_dict(), path)
    model = EfficientNetUNet2D(
        'b0',
        out_channels=4,
        out_scales=(8, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(
            ValueError, match='effnet_b1.pth: not an '
            'efficientnet-b0'):
        model.init_weights()
    with pytest.raises(FileNotFoundError):
        model.load_encoder_weights(str(tmp_path / 'missing.pth'))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match='arch must be one of'):
        EfficientNetUNet2D('b9')
    with pytest.raises(ValueError, match='out_scales'):
        EfficientNetUNet2D('b0', out_scales=(3, ))


def test_b3_parameter_count_matches_reference():
    model = EfficientNetUNet2D('b3', out_channels=32)
    # Reference 2D B3 (geffnet tf_efficientnet_b3_ns, feature 32): 35.51 M,
    # which also counts the unused head BN (2 * 1536) and the unused 1/16
    # output conv (768 * 32 + 32).
    total = sum(p.numel() for p in model.parameters())
    assert total + 2 * 1536 + 768 * 32 + 32 == pytest.approx(35.51e6, abs=5e3)


def _reference_keys(blocks_per_stage):
    """Key names of the authors' UNet2D (docs/reference-notes.md, Checkpoint
    keys)."""
    bn = [
        'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'
    ]
    ds = [
        'conv_dw', 'bn1', 'se.conv_reduce', 'se.conv_expand', 'conv_pw', 'bn2'
    ]
    ir = [
        'conv_pw', 'bn1', 'conv_dw', 'bn2', 'se.conv_reduce', 'se.conv_expand',
        'conv_pwl', 'bn3'
    ]
    keys = ['conv_stem.weight', 'conv_head.weight']
    keys += [f'{m}.{p}' for m in ('bn1', 'bn2') for p in bn]
    for stage, count in enumerate(blocks_per_stage):
        for i in range(count):
            for module in (ds if stage == 0 else ir):
                if module.startswith('bn'):
                    leaves = bn
                elif module.startswith('se'):
                    leaves = ['weight', 'bias']
                else:
                    leaves = ['weight']
                keys += [f'blocks.{stage}.{i}.{module}.{p}' for p in leaves]
    keys = ['encoder.original_model.' + k for k in keys]
    keys += [f'decoder.conv2.{p}' for p in ('weight', 'bias')]
    for scale in (16, 8, 4, 2, 1):
        for i in (0, 1, 3, 4):
            leaves = bn if i in (1, 4) else ['weight', 'bias']
            keys += [f'decoder.up{scale}._net.{i}.{p}' for p in leaves]
        keys += [
            f'decoder.resize_output_1_{scale}.{p}' for p in ('weight', 'bias')
        ]
    return keys


def test_convert_reference_names():
    keys = _reference_keys([1, 2, 2, 3, 3, 4, 1])  # b0
    converted = convert_reference_unet2d({k: k for k in keys}, 'b0')
    # spot checks: stage 4 starts at block 1 + 2 + 2 + 3 = 8
    src = 'encoder.original_model.blocks.{}'
    assert converted['encoder._blocks.0._depthwise_conv.weight'] == \
        src.format('0.0.conv_dw.weight')
    assert converted['encoder._blocks.2._expand_conv.weight'] == \
        src.format('1.1.conv_pw.weight')
    assert converted['encoder._blocks.8._bn2.running_mean'] == \
        src.format('4.0.bn3.running_mean')
    assert converted['encoder._bn0.bias'] == \
        'encoder.original_model.bn1.bias'
    assert converted['up8.layers.4.weight'] == 'decoder.up8._net.4.weight'
    assert converted['bottleneck.bias'] == 'decoder.conv2.bias'
    # every tensor of the backbone (all five scales) has exactly one source
    model = EfficientNetUNet2D(
        'b0', out_channels=4, out_scales=(1, 2, 4, 8, 16))
    assert set(converted) == set(model.state_dict())
