"""Conversion of timm / geffnet EfficientNet weights for EfficientNetUNet2D.

The key layouts come from ``tests/data/efficientnet_keys.json``, generated
from timm 1.0.31 (``tf_efficientnet_b{0,3,7}.ns_jft_in1k``) and geffnet 1.0.2
(``tf_efficientnet_b{0,3,7}_ns``), which share one layout (the generator,
``tests/data/generate_efficientnet_keys.py``, checks it). Every key gets a
random tensor; the converted file must load strictly into the backbone.
When timm or geffnet is importable, the converted encoder must also compute
what the library's model computes.
"""
import importlib.util
import json
import os
import struct

import pytest
import torch

from projects.OccDepth.occdepth.models.backbones.efficientnet_unet2d import \
    EfficientNetUNet2D
from projects.OccDepth.occdepth.models.utils import convert_backbone as cb

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, 'tests', 'data')

_spec = importlib.util.spec_from_file_location(
    '_convert_backbone_tool', os.path.join(ROOT, 'tools',
                                           'convert_backbone.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)

with open(os.path.join(DATA, 'efficientnet_keys.json')) as _f:
    LAYOUTS = json.load(_f)['archs']

# Source key -> efficientnet_pytorch key, worked out by hand from the blocks
# per stage (B0: 1 2 2 3 3 4 1; B3: 2 3 3 5 5 6 2; B7: 4 7 7 10 10 13 4).
HAND_MAPPED = {
    'b0': {
        'conv_stem.weight': '_conv_stem.weight',
        'bn1.running_var': '_bn0.running_var',
        'blocks.0.0.conv_pw.weight': '_blocks.0._project_conv.weight',
        'blocks.0.0.bn2.bias': '_blocks.0._bn2.bias',
        'blocks.1.1.conv_pw.weight': '_blocks.2._expand_conv.weight',
        'blocks.1.1.conv_pwl.weight': '_blocks.2._project_conv.weight',
        'blocks.6.0.bn3.weight': '_blocks.15._bn2.weight',
        'conv_head.weight': '_conv_head.weight',
    },
    'b3': {
        'blocks.0.1.conv_dw.weight': '_blocks.1._depthwise_conv.weight',
        'blocks.0.1.bn1.weight': '_blocks.1._bn1.weight',
        'blocks.4.0.bn2.running_mean': '_blocks.13._bn1.running_mean',
        'blocks.6.1.se.conv_expand.bias': '_blocks.25._se_expand.bias',
    },
    'b7': {
        'blocks.0.3.se.conv_reduce.weight': '_blocks.3._se_reduce.weight',
        'blocks.1.0.bn1.num_batches_tracked':
        '_blocks.4._bn0.num_batches_tracked',
        'blocks.6.3.bn3.running_var': '_blocks.54._bn2.running_var',
    },
}


def random_state(arch, seed=0, skip_batches=False):
    """Random tensors under every key of the fixture layout of ``arch``."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in LAYOUTS[arch]:
        if key.endswith('num_batches_tracked'):
            if not skip_batches:
                state[key] = torch.randint(1, 1000, (), generator=gen)
        else:
            state[key] = torch.randn(shape, generator=gen)
    return state


def write_safetensors(path, state):
    """A ``.safetensors`` file of float32 / int64 tensors, by the format's
    layout (8-byte header length, JSON header, raw buffer)."""
    header, chunks, offset = {}, [], 0
    for key, value in state.items():
        dtype = {torch.float32: 'F32', torch.int64: 'I64'}[value.dtype]
        data = value.contiguous().numpy().tobytes()
        header[key] = dict(
            dtype=dtype,
            shape=list(value.shape),
            data_offsets=[offset, offset + len(data)])
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)) + head + b''.join(chunks))


def load_into_backbone(path, arch):
    model = EfficientNetUNet2D(
        arch,
        out_channels=4,
        out_scales=(16, ),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    return model.encoder.state_dict()


@pytest.mark.parametrize(('arch', 'source', 'ext'),
                         [('b0', 'timm', 'pth'), ('b0', 'geffnet', 'pth'),
                          ('b3', 'timm', 'safetensors'),
                          ('b3', 'geffnet', 'pth'),
                          ('b7', 'timm', 'safetensors')])
def test_every_tensor_lands_in_the_encoder(tmp_path, capsys, arch, source,
                                           ext):
    state = random_state(arch)
    src = tmp_path / f'{source}_tf_efficientnet_{arch}.{ext}'
    if ext == 'safetensors':
        write_safetensors(src, state)
    elif source == 'timm':  # timm training checkpoints wrap the weights
        torch.save({'state_dict': state, 'epoch': 3}, src)
    else:
        torch.save(state, src)
    dst = tmp_path / 'encoder.pth'
    assert cli.main([str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    assert f'efficientnet-{arch} (inferred from the weights)' in out
    assert 'Dropped, ImageNet classifier' in out
    assert '  classifier.weight' in out and '  bn2.running_var' in out

    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['arch'] == arch
    assert converted['meta']['dropped_keys'] == sorted(
        k for k in state if k.startswith(('classifier.', 'bn2.')))
    loaded = load_into_backbone(dst, arch)
    # one encoder tensor per source tensor except the 7 dropped ones
    assert len(loaded) == len(state) - 7
    for key, new in HAND_MAPPED[arch].items():
        assert torch.equal(loaded[new], state[key]), key
    # every loaded tensor is the source tensor of a distinct source key
    values = {k: v for k, v in state.items() if v.dim() > 0}
    by_bytes = {
        (tuple(v.shape), v.numpy().tobytes()): k
        for k, v in values.items()
    }
    assert len(by_bytes) == len(values)
    sources = [
        by_bytes[(tuple(v.shape), v.numpy().tobytes())]
        for v in loaded.values() if v.dim() > 0
    ]
    assert len(set(sources)) == len(sources)


def test_unused_weight_fails_and_names_it(tmp_path, capsys):
    state = random_state('b3')
    # a third block in B3's last stage, which has two
    state['blocks.6.2.conv_pw.weight'] = torch.randn(2304, 384, 1, 1)
    state['head.extra'] = torch.zeros(3)
    src, dst = tmp_path / 'b3.pth', tmp_path / 'out.pth'
    torch.save(state, src)
    assert cli.main([str(src), str(dst), '--arch', 'b3']) == 1
    out = capsys.readouterr().out
    assert 'Source keys without a counterpart (2):' in out
    assert '  blocks.6.2.conv_pw.weight' in out and '  head.extra' in out
    assert 'nothing written: 2 source tensor(s) left unused' in out
    assert not dst.exists()
    with pytest.raises(ValueError, match='match no EfficientNet variant'):
        cb.infer_arch(state)


def test_missing_or_misshapen_weight_fails(tmp_path, capsys):
    state = random_state('b0')
    del state['blocks.2.1.conv_dw.weight']
    state['conv_head.weight'] = torch.randn(1280, 320, 3, 3)
    src, dst = tmp_path / 'b0.pth', tmp_path / 'out.pth'
    torch.save(state, src)
    assert cli.main([str(src), str(dst), '--arch', 'b0']) == 1
    out = capsys.readouterr().out
    assert 'missing _blocks.4._depthwise_conv.weight' in out
    assert ('_conv_head.weight: shape (1280, 320, 3, 3), the encoder has '
            '(1280, 320, 1, 1)') in out
    assert not dst.exists()
    # B3 weights forced onto B0: the extra blocks are reported unused
    torch.save(random_state('b3'), src)
    assert cli.main([str(src), str(dst), '--arch', 'b0']) == 1
    assert '  blocks.0.1.conv_dw.weight' in capsys.readouterr().out


def test_absent_num_batches_tracked_written_as_zero(tmp_path, capsys):
    state = random_state('b0', skip_batches=True)
    src, dst = tmp_path / 'b0.safetensors', tmp_path / 'out.pth'
    write_safetensors(src, state)
    assert cli.main([str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    # B0 encoder BNs: the stem's, 2 in the depthwise-separable block and 3 in
    # each of the 15 inverted residual blocks (the head BN is dropped)
    assert ('BatchNorm num_batches_tracked absent from the source, written '
            'as 0 (48):') in out
    loaded = load_into_backbone(dst, 'b0')
    assert int(loaded['_bn0.num_batches_tracked']) == 0
    assert torch.equal(loaded['_blocks.15._bn2.weight'],
                       state['blocks.6.0.bn3.weight'])


def test_safetensors_reader_matches_the_library_file():
    # written by safetensors 0.8.0 (tests/data/generate_efficientnet_keys.py)
    state = cb.read_safetensors(os.path.join(DATA, 'tiny.safetensors'))
    assert list(state) == [
        'num_batches_tracked', 'conv.weight', 'empty', 'bf', 'half'
    ]
    assert state['conv.weight'].dtype == torch.float32
    assert state['conv.weight'].tolist() == [[1.5, -2.0, 0.25]]
    assert state['half'].dtype == torch.float16
    assert state['half'].tolist() == [1.0, -2.0]
    assert state['bf'].dtype == torch.bfloat16 and state['bf'].item() == 3.0
    assert state['num_batches_tracked'].dtype == torch.int64
    assert state['num_batches_tracked'].shape == ()
    assert state['num_batches_tracked'].item() == 7
    assert state['empty'].shape == (0, 3)


def test_safetensors_reader_rejects_bad_files(tmp_path):
    path = tmp_path / 'bad.safetensors'
    head = json.dumps({
        'w':
        dict(dtype='F32', shape=[2, 2], data_offsets=[0, 12])
    }).encode()
    path.write_bytes(struct.pack('<Q', len(head)) + head + bytes(16))
    with pytest.raises(
            ValueError, match=r"bad.safetensors: tensor 'w': offsets"):
        cb.read_safetensors(str(path))
    path.write_bytes(struct.pack('<Q', 1000) + b'{}')
    with pytest.raises(ValueError, match='header length 1000 exceeds'):
        cb.read_safetensors(str(path))
    head = json.dumps({'w': dict(dtype='F8', shape=[1], data_offsets=[0, 1])})
    path.write_bytes(struct.pack('<Q', len(head)) + head.encode() + bytes(1))
    with pytest.raises(ValueError, match="tensor 'w': bad header entry"):
        cb.read_safetensors(str(path))


def test_missing_init_checkpoint_says_how_to_get_it(tmp_path):
    path = str(tmp_path / 'tf_efficientnet_b0_ns.pth')
    model = EfficientNetUNet2D(
        'b0',
        out_channels=4,
        out_scales=(16, ),
        init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(
            FileNotFoundError,
            match='tools/convert_backbone.py SRC .*tf_efficientnet_b0_ns.pth'
            '.*model.backbone.init_cfg=None'):
        model.init_weights()


def _library_taps(model, x):
    """Taps of EfficientNetUNet2D.encode computed with the library model:
    blocks of stages 0, 1, 2, 4 and the head conv before its BN."""
    x = model.bn1(model.conv_stem(x))
    if hasattr(model, 'act1'):  # geffnet: activation outside the BN
        x = model.act1(x)
    taps = []
    for index, stage in enumerate(model.blocks):
        x = stage(x)
        if index in (0, 1, 2, 4):
            taps.append(x)
    return taps + [model.conv_head(x)]


@pytest.mark.parametrize('library', ['timm', 'geffnet'])
def test_converted_encoder_computes_what_the_library_computes(library):
    lib = pytest.importorskip(library)
    torch.manual_seed(0)
    if library == 'timm':
        source = lib.create_model('tf_efficientnet_b0.ns_jft_in1k')
    else:
        source = lib.create_model('tf_efficientnet_b0_ns')
    for name, buf in source.named_buffers():
        if name.endswith('running_mean'):
            buf.normal_(0, 0.1)
        elif name.endswith('running_var'):
            buf.uniform_(0.5, 2.0)
    for name, param in source.named_parameters():
        if name.endswith('bias'):
            param.data.normal_(0, 0.1)
    source = source.double().eval()
    converted = cb.convert_efficientnet(source.state_dict(), 'b0')
    assert not converted.unmapped
    model = EfficientNetUNet2D('b0', out_channels=4, out_scales=(16, ))
    model.encoder.load_state_dict(converted.state_dict, strict=True)
    model = model.double().eval()
    # odd sizes exercise the TF "SAME" padding of strided convolutions
    x = torch.randn(2, 3, 37, 61, dtype=torch.float64)
    with torch.no_grad():
        expected = _library_taps(source, x)
        taps = model.encode(x)[1:]
    for got, want in zip(taps, expected):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
