"""Checkpoint reading and strict loading: one line per unreadable file, a
list of the keys that do not fit, and --allow-partial-load in the tools."""
import glob
import importlib.util
import os
import re
from collections import OrderedDict

import pytest
import torch
from mmdet3d.registry import MODELS
from torch import nn

from projects.OccDepth.occdepth.engine.checkpointing import (
    CheckpointError, CheckpointMismatchError, cli_error,
    load_state_dict_checked, read_checkpoint, state_dict_of)

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Untrusted:
    pass


class _Net(nn.Module):

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 1)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Linear(2, 2)


def _save(path, obj) -> str:
    torch.save(obj, str(path))
    return str(path)


def _one_line_naming(exc: CheckpointError, path: str) -> str:
    message = str(exc)
    assert '\n' not in message and '\n' not in cli_error(exc)
    assert message.startswith(f'{path}: ')
    return message[len(path) + 2:]


def _broken_files(tmp_path) -> dict:
    good = _save(tmp_path / 'good.pth', {'state_dict': _Net().state_dict()})
    with open(good, 'rb') as f:
        data = f.read()
    legacy = str(tmp_path / 'legacy.pth')
    torch.save({'a': torch.ones(64)},
               legacy,
               _use_new_zipfile_serialization=False)
    with open(legacy, 'rb') as f:
        legacy_data = f.read()
    files = {
        'empty.pth': b'',
        'truncated.pth': data[:len(data) // 2],
        'legacy_truncated.pth': legacy_data[:len(legacy_data) // 2],
        'notes.pth': b'hello, not weights\n',
        'image.pth': b'\x89PNG\r\n\x1a\n' + bytes(32),
    }
    for name, content in files.items():
        with open(tmp_path / name, 'wb') as f:
            f.write(content)
    return {name: str(tmp_path / name) for name in files}


@pytest.mark.parametrize(
    'name, reason',
    [('empty.pth', r'empty file \(0 bytes\)'),
     ('truncated.pth', r'truncated \(\d+ bytes; the zip archive ends before'),
     ('legacy_truncated.pth', r'truncated \(\d+ bytes; the data ends early'),
     ('notes.pth', r"not a PyTorch checkpoint \(it starts with b'hell'\)"),
     ('image.pth', r"not a PyTorch checkpoint \(it starts with b'\\x89PNG'")])
def test_unreadable_file_is_one_line_naming_it(tmp_path, name, reason):
    path = _broken_files(tmp_path)[name]
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert re.match(reason, _one_line_naming(info.value, path))


def test_missing_folder_tensor_and_untrusted_content(tmp_path):
    missing = str(tmp_path / 'nothing.pth')
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(missing)
    assert _one_line_naming(info.value, missing) == 'no such file'

    with pytest.raises(CheckpointError) as info:
        read_checkpoint(str(tmp_path))
    assert 'is a folder' in _one_line_naming(info.value, str(tmp_path))

    tensor = _save(tmp_path / 'tensor.pth', torch.ones(3))
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tensor)
    assert _one_line_naming(info.value, tensor) == ('holds a Tensor, not a '
                                                    'checkpoint dict')

    evil = _save(tmp_path / 'evil.pth', {'x': _Untrusted()})
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(evil)
    reason = _one_line_naming(info.value, evil)
    assert reason.startswith('torch\'s weights-only loader refuses')
    assert '_Untrusted' in reason

    no_weights = _save(tmp_path / 'meta.pth', {'meta': {'epoch': 1}})
    with pytest.raises(CheckpointError, match='holds no model weights'):
        state_dict_of(read_checkpoint(no_weights), no_weights)


def _checkpoint_of_wider_net():
    """A checkpoint of ``_Net(width=8)`` with one key renamed."""
    torch.manual_seed(0)
    state = _Net(width=8).state_dict()
    state['extra.weight'] = state.pop('head.weight')
    return state


def test_strict_load_lists_every_key_that_does_not_fit():
    model = _Net(width=4)
    with pytest.raises(CheckpointMismatchError) as info:
        load_state_dict_checked(model, _checkpoint_of_wider_net(), 'b1.pth')
    lines = str(info.value).splitlines()
    # conv.weight/bias and bn.weight/bias/running_mean/running_var have 8
    # channels instead of 4; num_batches_tracked is a scalar in both
    assert lines == [
        'b1.pth does not match the model: 1 missing, 1 unexpected and 6 '
        'shape-mismatched keys',
        '  missing: head.weight',
        '  unexpected: extra.weight',
        '  shape: conv.weight: checkpoint [8, 3, 1, 1] vs model [4, 3, 1, 1]',
        '  shape: conv.bias: checkpoint [8] vs model [4]',
        '  shape: bn.weight: checkpoint [8] vs model [4]',
        '  shape: bn.bias: checkpoint [8] vs model [4]',
        '  shape: bn.running_mean: checkpoint [8] vs model [4]',
        '  shape: bn.running_var: checkpoint [8] vs model [4]',
    ]
    assert 'Pass --allow-partial-load' in cli_error(info.value)


def test_partial_load_copies_only_the_fitting_tensors():
    model = _Net(width=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = _checkpoint_of_wider_net()
    state['head.bias'] = torch.tensor([5.0, -5.0])
    state['bn.num_batches_tracked'] = torch.tensor(7)
    report = load_state_dict_checked(model, state, 'b1.pth', strict=False)
    assert report.startswith('b1.pth does not match the model: 1 missing')
    after = model.state_dict()
    assert after['head.bias'].tolist() == [5.0, -5.0]
    assert int(after['bn.num_batches_tracked']) == 7
    for key in ('conv.weight', 'bn.running_var', 'head.weight'):
        assert torch.equal(after[key], before[key]), key


def test_exact_fit_loads_ddp_prefixed_keys_without_bn_counters():
    source = _Net(width=4)
    with torch.no_grad():
        source.conv.weight.fill_(0.25)
    state = OrderedDict((f'module.{k}', v)
                        for k, v in source.state_dict().items()
                        if not k.endswith('num_batches_tracked'))
    model = _Net(width=4)
    assert load_state_dict_checked(model, state, 'ddp.pth') == ''
    assert torch.equal(model.conv.weight, source.conv.weight)


# --- the tools -------------------------------------------------------------


def _tiny_config_file(tiny_config, data_root, tmp_path, name, **options):
    cfg = tiny_config(data_root, str(tmp_path / 'work'))
    cfg.merge_from_dict(options)
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return cfg, path


def _checkpoint_of(cfg, path) -> str:
    model = MODELS.build(cfg.model)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return str(path)


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_test_tool_refuses_another_architecture(tiny_kitti, tiny_config,
                                                tmp_path, run_python):
    cfg, config = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'b0')
    other, _ = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'wide',
                                 **{'model.feature_channels': 12})
    wide = _checkpoint_of(other, tmp_path / 'wide.pth')
    expected = {
        k: tuple(v.shape)
        for k, v in MODELS.build(cfg.model).state_dict().items()
    }
    given = torch.load(wide, weights_only=True)['state_dict']
    reshaped = sorted(
        k for k in expected if tuple(given[k].shape) != expected[k])
    assert reshaped  # the wider model differs in many layers

    proc = run_python(['tools/test.py', config, wide])
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    assert f'error: {wide} does not match the model: 0 missing, 0 ' \
        f'unexpected and {len(reshaped)} shape-mismatched keys' in proc.stderr
    listed = re.findall(r'  shape: (\S+): checkpoint', proc.stderr)
    assert sorted(listed) == reshaped
    assert 'Epoch(test)' not in proc.stdout

    # in this process (saves an interpreter start): evaluates, logging
    # the mismatch
    tool = _load_module(os.path.join(ROOT, 'tools', 'test.py'), 'test_cli')
    work_dir = str(tmp_path / 'partial')
    tool.main([config, wide, '--allow-partial-load', '--work-dir', work_dir])
    logs = glob.glob(os.path.join(work_dir, '*', '*.log'))
    assert len(logs) == 1
    with open(logs[0]) as f:
        log = f.read()
    assert f'Partial load: {wide} does not match the model' in log
    assert re.search(r'Epoch\(test\).*SC_IoU', log)


def test_test_tool_exits_with_one_line_for_an_empty_checkpoint(
        tiny_kitti, tiny_config, tmp_path):
    tool = _load_module(os.path.join(ROOT, 'tools', 'test.py'), 'test_cli')
    _, config = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'b0')
    empty = str(tmp_path / 'epoch_2.pth')
    open(empty, 'wb').close()
    # sys.exit(message): Python prints the message to stderr, exit status 1
    with pytest.raises(SystemExit) as info:
        tool.main([config, empty])
    assert info.value.code == f'error: {empty}: empty file (0 bytes)'


def test_export_tool_refuses_broken_and_mismatched_checkpoints(
        tiny_kitti, tiny_config, tmp_path, capsys):
    export = _load_module(
        os.path.join(ROOT, 'tools', 'export_onnx.py'), 'export_onnx_cli')
    _, config = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'b0')
    other, _ = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'wide',
                                 **{'model.feature_channels': 12})
    wide = _checkpoint_of(other, tmp_path / 'wide.pth')
    truncated = str(tmp_path / 'truncated.pth')
    with open(wide, 'rb') as f, open(truncated, 'wb') as g:
        g.write(f.read()[:1000])
    out = str(tmp_path / 'model.onnx')

    assert export.main([config, '--out', out, '--checkpoint', truncated]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f'error: {truncated}: truncated (1000 bytes; the zip archive ends '
        f'before its central directory)'
    ]
    assert export.main([config, '--out', out, '--checkpoint', wide]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'error: {wide} does not match the model')
    assert '  shape: ' in err
    assert not os.path.exists(out)


def test_demo_refuses_a_mismatch_unless_partial_load_is_allowed(
        tiny_kitti, tiny_config, tmp_path):
    demo = _load_module(
        os.path.join(ROOT, 'demo', 'ssc_demo.py'), 'ssc_demo_strict')
    _, config = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'b0')
    other, _ = _tiny_config_file(tiny_config, tiny_kitti, tmp_path, 'wide',
                                 **{'model.feature_channels': 12})
    wide = _checkpoint_of(other, tmp_path / 'wide.pth')
    seq = os.path.join(tiny_kitti, 'sequences', '08')
    left = sorted(glob.glob(os.path.join(seq, 'image_2', '*.png')))[0]
    right = left.replace('image_2', 'image_3')
    args = [left, right, os.path.join(seq, 'calib.txt'), config]
    out_dir = str(tmp_path / 'demo')

    with pytest.raises(CheckpointMismatchError, match=re.escape(wide)):
        demo.main(args + [wide, '--device', 'cpu', '--out-dir', out_dir])
    assert not os.path.exists(out_dir)
    outputs = demo.main(args + [
        wide, '--device', 'cpu', '--out-dir', out_dir, '--allow-partial-load'
    ])
    assert os.path.isfile(outputs['npy'])

    notes = str(tmp_path / 'notes.pth')
    with open(notes, 'w') as f:
        f.write('not weights')
    with pytest.raises(CheckpointError) as info:
        demo.main(args + [notes, '--device', 'cpu', '--out-dir', out_dir])
    assert cli_error(info.value) == (
        f'error: {notes}: not a PyTorch checkpoint (it starts with '
        f"b'not ')")
