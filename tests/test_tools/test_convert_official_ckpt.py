"""Conversion of the authors' Lightning checkpoint.

The authors' key layout (docs/reference-notes.md, Checkpoint keys) is rebuilt
here with an independent reverse table: the tiny test model (EfficientNet-b0,
C = 8) gets random tensors, its keys are renamed to the reference names and
extended by the reference-only tensors, and the conversion must give back
exactly the model's state dict.
"""
import collections
import importlib.util
import os
import subprocess
import sys
import types
from collections import OrderedDict

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint

from projects.OccDepth.occdepth.models.occ_heads import Bottleneck3D
from projects.OccDepth.occdepth.models.utils import convert_reference as cr

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name, relpath):
    spec = importlib.util.spec_from_file_location(name,
                                                  os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


occdepth_tests = _load('_occdepth_model_tests',
                       'tests/test_models/test_occdepth.py')
cli = _load('_convert_official_ckpt', 'tools/convert_official_ckpt.py')

# EfficientNet-B0 blocks per stage (B3 would be [2, 3, 3, 5, 5, 6, 2]).
B0_REPEATS = (1, 2, 2, 3, 3, 4, 1)
# efficientnet_pytorch -> geffnet names of one block (docs/reference-notes.md,
# Checkpoint keys).
DS_NAMES = {
    '_depthwise_conv': 'conv_dw',
    '_bn1': 'bn1',
    '_se_reduce': 'se.conv_reduce',
    '_se_expand': 'se.conv_expand',
    '_project_conv': 'conv_pw',
    '_bn2': 'bn2',
}
IR_NAMES = {
    '_expand_conv': 'conv_pw',
    '_bn0': 'bn1',
    '_depthwise_conv': 'conv_dw',
    '_bn1': 'bn2',
    '_se_reduce': 'se.conv_reduce',
    '_se_expand': 'se.conv_expand',
    '_project_conv': 'conv_pwl',
    '_bn2': 'bn3',
}
TOP_NAMES = {
    '_conv_stem': 'conv_stem',
    '_bn0': 'bn1',
    '_conv_head': 'conv_head'
}
ENCODER = 'net_rgb.encoder.original_model.'


def _block_names():
    names = []
    for stage, repeats in enumerate(B0_REPEATS):
        names += [(stage, i) for i in range(repeats)]
    return names


def to_reference_key(key):
    """This project's name -> the authors' name of the same tensor."""
    part, _, name = key.partition('.')
    if part == 'occ_head':
        return 'net_3d_decoder.' + name
    if part == 'depth_head':
        return 'flosp_depth.depth_net.0.' + name
    assert part == 'backbone', key
    if name.startswith('encoder._blocks.'):
        index, module, leaf = name[len('encoder._blocks.'):].split('.', 2)
        stage, i = _block_names()[int(index)]
        table = DS_NAMES if stage == 0 else IR_NAMES
        return f'{ENCODER}blocks.{stage}.{i}.{table[module]}.{leaf}'
    if name.startswith('encoder.'):
        module, leaf = name[len('encoder.'):].split('.', 1)
        return f'{ENCODER}{TOP_NAMES[module]}.{leaf}'
    if name.startswith('bottleneck.'):
        return 'net_rgb.decoder.conv2.' + name[len('bottleneck.'):]
    if name.startswith('out_convs.'):
        scale, leaf = name[len('out_convs.'):].split('.', 1)
        return f'net_rgb.decoder.resize_output_{scale}.{leaf}'
    stage, _, rest = name.partition('.layers.')
    assert stage.startswith('up'), key
    return f'net_rgb.decoder.{stage}._net.{rest}'


def _random_like(value, gen):
    if value.dtype == torch.long:
        return torch.randint(0, 1000, value.shape, generator=gen)
    return torch.randn(value.shape, generator=gen)


def stride1_skip_tensors(model, gen):
    """The reference's never-run skip branches of the stride-1 DDR
    bottlenecks (AvgPool -> 1x1x1 conv -> BN, ``planes`` channels each)."""
    tensors = OrderedDict()
    for name, module in model.occ_head.named_modules():
        if not (isinstance(module, Bottleneck3D) and module.stride == 1):
            continue
        planes = module.conv1.out_channels
        for branch in ('downsample2', 'downsample3', 'downsample4'):
            prefix = f'net_3d_decoder.{name}.{branch}'
            tensors[f'{prefix}.1.weight'] = torch.randn(
                planes, planes, 1, 1, 1, generator=gen)
            for leaf in ('weight', 'bias', 'running_mean', 'running_var'):
                tensors[f'{prefix}.2.{leaf}'] = torch.randn(
                    planes, generator=gen)
            tensors[f'{prefix}.2.num_batches_tracked'] = torch.tensor(3)
    return tensors


@pytest.fixture(scope='module')
def released():
    """A tiny model, random weights, and those weights in the authors'
    layout (with the reference-only tensors)."""
    init_default_scope('mmdet3d')  # module fixtures run before conftest's
    gen = torch.Generator().manual_seed(0)
    cfg = occdepth_tests.small_model_cfg()
    model = MODELS.build(cfg)
    ours = OrderedDict(
        (k, _random_like(v, gen)) for k, v in model.state_dict().items())
    theirs = OrderedDict((to_reference_key(k), v) for k, v in ours.items())
    skips = stride1_skip_tensors(model, gen)
    theirs.update(skips)
    channels = model.feature_channels
    head = model.backbone.num_features
    for leaf in ('weight', 'bias', 'running_mean', 'running_var'):
        theirs[f'{ENCODER}bn2.{leaf}'] = torch.randn(head, generator=gen)
    theirs[f'{ENCODER}bn2.num_batches_tracked'] = torch.tensor(7)
    theirs['net_rgb.decoder.resize_output_1_16.weight'] = torch.randn(
        channels, head // 2, 1, 1, generator=gen)
    theirs['net_rgb.decoder.resize_output_1_16.bias'] = torch.randn(
        channels, generator=gen)
    grid = model.depth_head.grid_size
    size = model.voxel_size * model.project_scale
    theirs['flosp_depth.voxel_size'] = torch.full((3, ), size)
    theirs['flosp_depth.voxel_coord'] = torch.tensor(
        model.voxel_origin) + size / 2
    theirs['flosp_depth.voxel_num'] = torch.tensor(grid)
    return dict(
        cfg=cfg,
        model=model,
        ours=ours,
        theirs=theirs,
        dropped=EXPECTED_DROPPED | set(skips))


# reference tensors dropped besides the DDR skips
EXPECTED_DROPPED = {
    f'{ENCODER}bn2.{leaf}'
    for leaf in ('weight', 'bias', 'running_mean', 'running_var',
                 'num_batches_tracked')
} | {
    'net_rgb.decoder.resize_output_1_16.weight',
    'net_rgb.decoder.resize_output_1_16.bias', 'flosp_depth.voxel_size',
    'flosp_depth.voxel_coord', 'flosp_depth.voxel_num'
}


def test_reverse_table_hits_the_reference_names(released):
    theirs = released['theirs']
    assert 'net_3d_decoder.CP_mega_voxels.resize.1.main.0.conv1.weight' in (
        theirs)
    assert 'net_3d_decoder.ssc_head.occ_classes.weight' in theirs
    assert f'{ENCODER}blocks.0.0.se.conv_reduce.weight' in theirs
    assert f'{ENCODER}blocks.5.3.conv_pwl.weight' in theirs
    assert f'{ENCODER}blocks.6.0.bn3.running_var' in theirs
    assert 'net_rgb.decoder.up1._net.4.running_mean' in theirs
    # skips of the stride-1 bottlenecks: Process chains and the CRP's
    for key in ('net_3d_decoder.process_l1.0.main.0.downsample2.1.weight',
                'net_3d_decoder.process_l2.0.main.2.downsample4.2.bias',
                'net_3d_decoder.CP_mega_voxels.resize.1.main.0.downsample3.'
                '2.running_var'):
        assert key in theirs, key
    assert 'net_3d_decoder.process_l1.1.main.downsample2.1.weight' in theirs
    assert 'flosp_depth.depth_net.0.depth_conv.2.bn2.weight' in theirs
    assert not any(
        k.startswith(('backbone.', 'occ_head.', 'depth_head.'))
        for k in theirs)


def test_round_trip_loads_strictly_with_equal_tensors(released):
    converted = cr.convert_reference_state(released['theirs'], 'b0')
    assert converted.unmapped == []
    assert set(converted.dropped) == released['dropped']
    assert len(released['dropped']) == len(EXPECTED_DROPPED) + 7 * 3 * 6
    model = MODELS.build(released['cfg'])
    model.load_state_dict(converted.state_dict, strict=True)
    loaded = model.state_dict()
    assert list(loaded) == list(released['ours'])
    for key, value in released['ours'].items():
        assert torch.equal(loaded[key], value), key


def test_arch_inference_and_encoder_check(released):
    assert cr.infer_arch(released['theirs']) == 'b0'
    converted = cr.convert_reference_state(released['theirs'], 'b1')
    encoder = {
        k: v
        for k, v in converted.state_dict.items()
        if k.startswith('backbone.encoder.')
    }
    missing, unexpected, wrong = cr.compare_shapes(encoder,
                                                   cr.encoder_shapes('b1'))
    # b1 has 23 blocks, b0 16: the b1 names of 7 blocks are missing
    assert missing and not unexpected
    with pytest.raises(ValueError, match='no EfficientNet variant'):
        cr.infer_arch({
            'net_rgb.encoder.original_model.conv_stem.weight':
            torch.zeros(5, 3, 3, 3)
        })


def test_nyu_and_unknown_names():
    value = torch.zeros(1)
    state = {
        'net_3d_decoder.process_1_4.0.main.0.conv1.weight': value,
        'net_3d_decoder.process_1_8.1.main.downsample.1.weight': value,
        'net_3d_decoder.up_1_16_1_8.main.0.weight': value,
        'net_3d_decoder.up_1_8_1_4.main.1.running_var': value,
        'net_3d_decoder.ssc_head_1_4.conv_classes.bias': value,
        'net_3d_decoder.occluded_head.conv0.weight': value,
        'flosp_depth.depth_net.0.context_conv.weight': value,
        'net_rgb.encoder.original_model.blocks.1.0.conv_xx.weight': value,
        'projects.1.weight': value,
    }
    converted = cr.convert_reference_state(state, 'b3')
    assert list(converted.state_dict) == [
        'occ_head.process_l1.0.main.0.conv1.weight',
        'occ_head.process_l2.1.main.downsample.1.weight',
        'occ_head.up_13_l2.main.0.weight',
        'occ_head.up_12_l1.main.1.running_var',
        'occ_head.ssc_head.conv_classes.bias',
    ]
    assert converted.unmapped == list(state)[5:]


class FakeDictConfig:
    """Stands for omegaconf's DictConfig, which is not installed."""

    def __init__(self, content):
        self.content = content

    def __getstate__(self):
        return {'_content': self.content, '_flags': {'readonly': None}}

    def __setstate__(self, state):
        self.content = state['_content']


class FakeCallback:
    """Stands for pytorch_lightning's ModelCheckpoint class (a dict key)."""


def _lightning_ckpt(path, state):
    """Save ``state`` like Lightning 1.4.9, with objects of a module that
    is not importable when the file is read."""
    fake = types.ModuleType('fake_omegaconf_dictconfig')
    for cls in (FakeDictConfig, FakeCallback):
        cls.__module__ = fake.__name__
        setattr(fake, cls.__name__, cls)
    sys.modules[fake.__name__] = fake
    try:
        ckpt = dict(epoch=29, global_step=34800, state_dict=state)
        ckpt['pytorch-lightning_version'] = '1.4.9'
        ckpt['callbacks'] = {FakeCallback: {'best': torch.tensor(0.1284)}}
        ckpt['optimizer_states'] = [{'state': {}, 'param_groups': []}]
        ckpt['lr_schedulers'] = [{'milestones': collections.Counter([18])}]
        ckpt['hyper_parameters'] = dict(
            config=FakeDictConfig({'feature': 8}),
            class_weights=torch.ones(20))
        torch.save(ckpt, path)
    finally:
        del sys.modules[fake.__name__]


def _config_file(tmp_path, cfg):
    path = str(tmp_path / 'tiny_model.py')
    Config(dict(model=cfg)).dump(path)
    return path


def test_cli_writes_a_checkpoint_mmengine_loads(released, tmp_path, capsys):
    src = str(tmp_path / 'occdepth.ckpt')
    dst = str(tmp_path / 'occdepth.pth')
    _lightning_ckpt(src, released['theirs'])
    config = _config_file(tmp_path, released['cfg'])
    assert cli.main([src, dst, '--config', config]) == 0
    out = capsys.readouterr().out
    assert 'efficientnet-b0 (inferred' in out
    assert 'fake_omegaconf_dictconfig.FakeDictConfig' in out
    for key in released['dropped']:
        assert key in out
    assert cr.DROP_REASONS['ddr_stride1_skip'] in out
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['arch'] == 'b0'
    assert ckpt['meta']['reference']['epoch'] == 29
    assert ckpt['meta']['dropped_keys'] == sorted(released['dropped'])
    model = MODELS.build(released['cfg'])
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, released['ours'][key]), key


def test_cli_fails_on_unmappable_keys(released, tmp_path, capsys):
    theirs = OrderedDict(released['theirs'])
    theirs['net_3d_decoder.occluded_head.conv0.weight'] = torch.zeros(2)
    theirs['net_rgb.decoder.extra.weight'] = torch.zeros(2)
    src = str(tmp_path / 'extra.ckpt')
    dst = str(tmp_path / 'extra.pth')
    torch.save({'state_dict': theirs}, src)
    assert cli.main([src, dst, '--arch', 'b0']) == 1
    out = capsys.readouterr().out
    assert 'net_3d_decoder.occluded_head.conv0.weight' in out
    assert 'net_rgb.decoder.extra.weight' in out
    assert '2 reference tensor(s) left unused' in out
    assert not os.path.exists(dst)


def test_cli_reports_missing_weights(released, tmp_path, capsys):
    theirs = OrderedDict(released['theirs'])
    del theirs['net_3d_decoder.ssc_head.conv_classes.weight']
    del theirs[f'{ENCODER}blocks.3.1.conv_dw.weight']
    src = str(tmp_path / 'missing.ckpt')
    dst = str(tmp_path / 'missing.pth')
    torch.save({'state_dict': theirs}, src)
    # Without a config, the encoder is still checked.
    assert cli.main([src, dst, '--arch', 'b0']) == 1
    out = capsys.readouterr().out
    assert 'backbone.encoder._blocks.6._depthwise_conv.weight' in out
    assert 'occ_head.ssc_head.conv_classes.weight' not in out
    config = _config_file(tmp_path, released['cfg'])
    assert cli.main([src, dst, '--arch', 'b0', '--config', config]) == 1
    out = capsys.readouterr().out
    assert 'backbone.encoder._blocks.6._depthwise_conv.weight' in out
    assert 'occ_head.ssc_head.conv_classes.weight' in out
    assert '2 missing tensor(s)' in out
    assert not os.path.exists(dst)


def test_cli_checks_the_oad_grid_and_shapes(released, tmp_path, capsys):
    src = str(tmp_path / 'grid.ckpt')
    dst = str(tmp_path / 'grid.pth')
    torch.save({'state_dict': released['theirs']}, src)
    cfg = occdepth_tests.small_model_cfg(grid_size=(48, 48, 16))
    config = _config_file(tmp_path, cfg)
    assert cli.main([src, dst, '--config', config]) == 1
    out = capsys.readouterr().out
    assert 'the OAD grid is (16, 16, 8)' in out
    cfg = occdepth_tests.small_model_cfg(feature_channels=12)
    config = _config_file(tmp_path, cfg)
    assert cli.main([src, dst, '--config', config]) == 1
    out = capsys.readouterr().out
    assert ('backbone.out_convs.1_1.weight: got (8, 40, 1, 1), expected '
            '(12, 40, 1, 1)') in out
    assert not os.path.exists(dst)


def test_loader_never_runs_code_from_the_file(tmp_path):
    marker = tmp_path / 'pwned'

    class Payload:

        def __reduce__(self):
            return subprocess.check_call, (['touch', str(marker)], )

    class SystemPayload:

        def __reduce__(self):
            return os.system, (f'touch {marker}', )

    src = str(tmp_path / 'payload.ckpt')
    torch.save({'state_dict': {'a': torch.ones(1)}, 'x': Payload()}, src)
    state, rest, replaced = cr.load_reference_checkpoint(src)
    # pickle protocol 2 writes subprocess.check_call as commands.check_call
    assert len(replaced) == 1 and replaced[0].endswith('.check_call')
    assert torch.equal(state['a'], torch.ones(1))
    assert not marker.exists()
    torch.save({'state_dict': {'a': torch.ones(1)}, 'x': SystemPayload()}, src)
    with pytest.raises(ValueError, match='payload.ckpt: refused'):
        cr.load_reference_checkpoint(src)
    assert not marker.exists()


def test_loader_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.ckpt'):
        cr.load_reference_checkpoint(str(tmp_path / 'nope.ckpt'))
    bad = tmp_path / 'bad.ckpt'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='bad.ckpt'):
        cr.load_reference_checkpoint(str(bad))
    torch.save({'state_dict': {'a': 1}}, str(bad))
    with pytest.raises(ValueError, match='bad.ckpt: state_dict entries'):
        cr.load_reference_checkpoint(str(bad))
