"""tools/analysis_tools/roofline.py and engine/roofline.py.

FLOPs of hand-computed calls, the attribution of forward and backward calls
(also those the memory ops make in their own backward) and times to parts,
the ceiling / efficiency arithmetic, and the tool on a tiny config.
"""
import importlib.util
import json
import os

import pytest
import torch
from mmdet3d.registry import MODELS
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from projects.OccDepth.occdepth.engine import roofline as rl
from projects.OccDepth.occdepth.engine.config_loading import load_config
from projects.OccDepth.occdepth.engine.profiling import synthetic_batch
from projects.OccDepth.occdepth.models.ops.upsample_concat_conv import \
    upsample_concat_conv

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', 'occdepth_kitti_released.py')
IMG_HW = (32, 64)
TINY = [
    'model.backbone.init_cfg=None', 'model.backbone.arch=b0',
    'model.feature_channels=8', 'model.depth_head.mid_channels=8',
    'model.grid_size=(16,16,16)', 'model.voxel_size=3.2'
]


def _record(fn):
    """The counted calls of ``fn()`` (forward and backward)."""
    recorder = rl.CallRecorder(lambda: 'row')
    with recorder:
        fn()
    return [(c.key[0].overloadpacket.__name__, c.flops)
            for c in recorder.calls]


def _torch_flops(fn):
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def test_conv2d_flops_forward_and_backward_by_hand():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    x = torch.randn(2, 4, 9, 11, requires_grad=True)

    def step():
        conv(x).sum().backward()

    # output (2, 6, 5, 6): 2 * 2 * 30 positions * 6 * 4 * 3 * 3 weights
    forward = 2 * 2 * 30 * 216
    assert forward == 25920
    # input and weight gradients: the forward's multiply-adds twice
    assert _record(step) == [('convolution', 25920),
                             ('convolution_backward', 51840)]
    assert _torch_flops(step) == 25920 + 51840
    # without an input gradient only the weight gradient is computed
    x.requires_grad_(False)
    assert _record(step) == [('convolution', 25920),
                             ('convolution_backward', 25920)]


def test_grouped_and_transposed_conv3d_flops_by_hand():
    depthwise = nn.Conv3d(4, 4, 3, padding=1, groups=4, bias=False)
    x = torch.randn(1, 4, 3, 5, 6, requires_grad=True)

    def step():
        depthwise(x).sum().backward()

    # 90 output positions * 4 channels * 27 weights each
    assert _record(step) == [('convolution', 19440),
                             ('convolution_backward', 38880)]
    # torch counts the forward alike; its weight gradient of a grouped
    # convolution counts every channel pair (4 x 19440 here)
    assert _torch_flops(lambda: depthwise(x)) == 19440
    assert _torch_flops(step) == 19440 + 19440 + 4 * 19440

    up = nn.ConvTranspose3d(4, 2, 2, stride=2)
    y = torch.randn(1, 4, 2, 3, 4, requires_grad=True)
    # every one of the 24 input positions meets the 4 * 2 * 8 weights
    assert _record(lambda: up(y).sum().backward()) == [('convolution', 3072),
                                                       ('convolution_backward',
                                                        6144)]
    assert _torch_flops(lambda: up(y)) == 3072


def test_matmul_flops_by_hand():
    linear = nn.Linear(5, 7)
    x = torch.randn(3, 5, requires_grad=True)
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert _record(lambda: torch.bmm(a, b)) == [('bmm', 2 * 2 * 3 * 4 * 5)]
    # forward addmm; backward: grad input and grad weight, one mm each
    assert _record(lambda: linear(x).sum().backward()) == [('addmm', 210),
                                                           ('mm', 210),
                                                           ('mm', 210)]


class _Decoder(nn.Module):
    """Upsample + concatenate + conv through the model's memory op."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4 + 2, 5, 3, padding=1)

    def forward(self, x, skip):
        return upsample_concat_conv(x, skip, self.conv.weight, self.conv.bias,
                                    1)


class _Toy(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.decoder = _Decoder()
        self.head = nn.Linear(5, 2)

    def forward(self, img):
        x = self.encoder(img) * 2  # the product is outside every part
        y = self.decoder(x, img[:, :2])
        return self.head(y.mean((2, 3)))


def _toy_tracker(model):
    return rl.PartTracker(model, {
        'enc': [r'encoder'],
        'dec': [r'decoder'],
        'head': [r'head']
    })


def test_calls_are_attributed_to_the_part_forward_and_backward():
    torch.manual_seed(0)
    model = _Toy()
    img = torch.randn(2, 3, 8, 10)
    tracker = _toy_tracker(model)
    recorder = rl.CallRecorder(tracker.row)
    with tracker.installed(), recorder:
        tracker.start_step()
        out = model(img)
        # a node created in a part's forward names the part
        assert tracker.part_of(out.grad_fn._sequence_nr()) == 'head'
        assert tracker.part_of(out.grad_fn.next_functions[0]
                               [0]._sequence_nr()) is None  # the bias
        tracker.phase = rl.BACKWARD
        out.sum().backward()
    rows = [(c.row, c.key[0].overloadpacket.__name__, c.flops)
            for c in recorder.calls]
    # encoder out (2, 4, 4, 5); decoder: 4 upsampled + 2 skip channels at
    # 8 x 10, its custom backward calls convolution_backward itself
    assert rows == [
        ('enc', 'convolution', 2 * 2 * 20 * 4 * 3 * 9),
        ('dec', 'convolution', 2 * 2 * 80 * 5 * 4 * 9),
        ('dec', 'convolution', 2 * 2 * 80 * 5 * 2 * 9),
        ('head', 'addmm', 40),
        ('head backward', 'mm', 40),
        ('head backward', 'mm', 40),
        # upsampled part: input and weight gradients; skip: weight only
        ('dec backward', 'convolution_backward', 2 * 57600),
        ('dec backward', 'convolution_backward', 28800),
        # the image needs no gradient: the weight gradient only
        ('enc backward', 'convolution_backward', 8640),
    ]


def test_backward_clock_splits_the_backward_by_part():
    model = _Toy()
    tracker = _toy_tracker(model)
    with tracker.installed():
        tracker.start_step()
        loss = model(torch.randn(2, 3, 8, 10)).sum()
        clock = rl.BackwardClock(tracker, [loss], torch.device('cpu'))
        with tracker.section(rl.BACKWARD), clock:
            loss.backward()
        tracker.end_step()
    step = tracker.steps[0]
    parts = ('enc backward', 'dec backward', 'head backward', 'other backward')
    assert set(parts) <= set(step)
    assert all(step[p] > 0 for p in parts)
    # every moment of the backward goes to one row, inside the section
    assert sum(step[p] for p in parts) <= step[rl.BACKWARD]


def test_nested_parts_exclude_each_other():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))
    tracker = rl.PartTracker(model, {'outer': [r'1'], 'inner': [r'1\.0']})
    ticks = iter([10.0, 11.0, 14.0, 16.0])  # enter, enter, exit, exit
    tracker._clock = lambda: next(ticks)
    with tracker.installed():
        tracker.start_step()
        model(torch.randn(1, 2))
        tracker.end_step()
    assert tracker.steps[0] == {'outer': 1.0 + 2.0, 'inner': 3.0}


def test_ceiling_and_efficiency_arithmetic():
    best = {'k1': 0.125, 'k2': 0.25, 'k3': 0.5}
    calls = [
        rl.CallRecord('k1', 'a', 10**9, 0.2),
        rl.CallRecord('k1', 'a', 10**9, 0.2),
        rl.CallRecord('k2', 'a', 3 * 10**9, 0.3),
        rl.CallRecord('k3', 'b backward', 4 * 10**9, 0.75),
    ]
    rows = rl.roofline_rows(['a', 'b backward', 'losses'], {
        'a': 0.625,
        'b backward': 0.5,
        'losses': 0.25
    }, calls, {
        'a': 0.5,
        'b backward': 0.5
    }, best)
    a, b, losses = rows
    assert (a.flops, a.ceiling_seconds) == (5 * 10**9, 0.5)
    assert a.efficiency == 0.8 and a.flagged  # 0.5 s / 0.625 s < 0.85
    assert a.conv_efficiency == 1.0 and a.rest_seconds == 0.125
    assert a.rate == 8e9 and a.ceiling_rate == 1e10
    assert b.efficiency == 1.0 and not b.flagged
    assert losses.efficiency is None and not losses.flagged  # no conv
    total = rl.total_row(rows, 1.5)
    assert (total.flops, total.ceiling_seconds) == (9 * 10**9, 1.0)
    assert total.efficiency == 1.0 / 1.5
    assert total.flagged  # 1 s of ceiling in a 1.5 s step
    table = rl.markdown_table(rows + [total])
    assert table.count(f'below {rl.EFFICIENCY_FLAG}') == 2
    assert '| a | 5.00 | 0.625 | 8.0 | 0.500 | 0.125 | 0.500 | 10.0 | ' \
        '0.80 | 1.00 | below 0.85 |' in table
    with pytest.raises(ValueError, match='not among'):
        rl.roofline_rows(['a'], {}, calls, {}, best)


def test_best_alone_replays_the_call_layout():
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 6, 7).contiguous(memory_format=torch.channels_last)
    recorder = rl.CallRecorder(lambda: 'row')
    with recorder:
        conv(x)
    key = recorder.calls[0].key
    assert rl.describe(key) == 'conv2d 3->4 k3x3 s1 p0 in (1, 3, 6, 7) CL'
    best = rl.best_alone_seconds([key], 2, 1, torch.device('cpu'))
    assert 0 < best[key] < 1


def _load_tool():
    path = os.path.join(ROOT, 'tools', 'analysis_tools', 'roofline.py')
    spec = importlib.util.spec_from_file_location('occdepth_roofline', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('mode', ['train', 'infer'])
def test_tool_prints_every_part(mode, tmp_path, capsys):
    tool = _load_tool()
    out = tmp_path / 'roofline.json'
    threads = torch.get_num_threads()
    try:
        result = tool.main([
            CONFIG, '--mode', mode, '--shape',
            str(IMG_HW[0]),
            str(IMG_HW[1]), '--threads', '1', '--repeats', '1', '--warmup',
            '0', '--ceiling-repeats', '1', '--json',
            str(out), '--cfg-options'
        ] + TINY)
    finally:
        torch.set_num_threads(threads)
    printed = capsys.readouterr().out
    network = [
        '2D encoder', '2D decoder', 'Stereo-SFA', 'OAD depth head',
        '3D UNet + CRP', 'full-res head'
    ]
    expected = network + ['other', 'total']
    if mode == 'train':
        expected = network + ['losses', 'other'] + [
            f'{p} backward' for p in network + ['losses']
        ] + ['other backward', 'optimizer', 'graph hooks', 'total']
    rows = {r['name']: r for r in result['rows']}
    assert list(rows) == expected
    for name in expected:
        assert f'| {name} |' in printed
    for name in set(network) - {'Stereo-SFA'}:  # these run convolutions
        assert rows[name]['flops'] > 0 and rows[name]['ceiling_seconds'] > 0
        assert rows[name]['efficiency'] > 0
    total = rows['total']
    assert total['flops'] == sum(r['flops'] for r in result['rows'][:-1])
    # the rows share out the step (one timed step: its time is the median)
    assert abs(
        sum(r['seconds']
            for r in result['rows'][:-1]) - total['seconds']) < 1e-9
    assert json.loads(out.read_text())['rows'] == result['rows']
    if mode == 'infer':
        # the forward's count agrees with torch's FlopCounterMode (no
        # grouped weight gradients in the forward)
        args = tool.parse_args([CONFIG, '--cfg-options'] + TINY)
        model = MODELS.build(load_config(CONFIG, args.cfg_options).model)
        model.eval()
        data = model.data_preprocessor(
            synthetic_batch(model, IMG_HW, 1), False)
        with torch.no_grad():
            # the tool's steps run after the camera caches are filled
            model(**data, mode='predict')
            assert total['flops'] == _torch_flops(
                lambda: model(**data, mode='predict'))


@pytest.mark.parametrize('device, message', [
    ('meta', "--device must be 'cpu' or 'cuda"),
    ('tpu', '--device tpu: Expected one of'),
    ('cuda:x', '--device cuda:x'),
])
def test_cli_rejects_a_bad_device(device, message, capsys):
    with pytest.raises(SystemExit):
        _load_tool().parse_args(
            ['configs/occdepth_demo.py', '--device', device])
    assert message in capsys.readouterr().err
