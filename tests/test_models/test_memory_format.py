"""``channels_last='auto'``: the layout is decided per device."""
from types import SimpleNamespace

import pytest
import torch

from projects.OccDepth.occdepth.models.backbones import EfficientNetUNet2D
from projects.OccDepth.occdepth.models.occ_heads import SSCHead
from projects.OccDepth.occdepth.models.utils import memory_format
from projects.OccDepth.occdepth.models.utils.memory_format import (
    check_channels_last, use_channels_last)


def _on(device: str):
    """Stands in for a tensor on ``device`` (only its device is read)."""
    return SimpleNamespace(device=torch.device(device))


@pytest.mark.parametrize('autocast', [False, True])
def test_auto_rule_per_device(autocast, monkeypatch):
    monkeypatch.setattr(memory_format.torch, 'is_autocast_enabled',
                        lambda device: autocast and device == 'cuda')
    for dims in (2, 3):
        assert use_channels_last('auto', _on('cpu'), dims)
        for setting in (True, False):  # explicit values hold everywhere
            assert use_channels_last(setting, _on('cuda'), dims) is setting
            assert use_channels_last(setting, _on('cpu'), dims) is setting
    assert use_channels_last('auto', _on('cuda'), 2) is autocast
    assert not use_channels_last('auto', _on('cuda'), 3)
    assert not use_channels_last('auto', _on('meta'), 3)


def test_bad_values_are_errors():
    assert check_channels_last('auto', 'X') == 'auto'
    with pytest.raises(ValueError, match="SSCHead: channels_last must be"):
        SSCHead(8, 4, grid_size=(8, 8, 8), channels_last='yes')
    with pytest.raises(ValueError, match='EfficientNetUNet2D: channels_last'):
        EfficientNetUNet2D(arch='b0', channels_last=1)


def test_auto_head_on_cpu_equals_channels_last():
    """On the CPU 'auto' runs channels-last activations on contiguous
    weights: bit-identical outputs and gradients to ``True``."""
    torch.manual_seed(0)
    cfg = dict(
        in_channels=8,
        num_classes=4,
        grid_size=(8, 8, 8),
        project_scale=2,
        decoupled=True)
    on = SSCHead(**cfg, channels_last=True)
    auto = SSCHead(**cfg, channels_last='auto')
    auto.load_state_dict(on.state_dict())
    assert all(p.is_contiguous() for p in auto.parameters())
    x = torch.randn(1, 8, 8, 8, 8)
    grads = []
    for head in (on, auto):
        out = head(x)
        sum(o.square().sum() for o in out.values()).backward()
        grads.append([p.grad for p in head.parameters()])
    for a, b in zip(on(x).values(), auto(x).values()):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(*grads))
