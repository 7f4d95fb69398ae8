"""The memory estimate of a training step, counted by hand."""
import pytest
import torch
from torch import nn

from projects.OccDepth.occdepth.engine.memory_estimate import (
    EmulatedAutocast, SavedTensors, estimate_training_step)

# Linear(4, 8) -> ReLU -> Linear(8, 2) on x (3, 4), loss = sum of the output.
# Parameters: 4 * 8 + 8 + 8 * 2 + 2 = 58 floats = 232 B.
PARAMS = 232
# Saved for backward in fp32: the input of the first addmm (x, 48 B; its
# weight is a parameter), the ReLU output (3 x 8 x 4 = 96 B), which is also
# the input of the second addmm (one storage, counted once); sum keeps none.
SAVED_FP32 = 48 + 96
# In fp16: the cast of x (24 B), the fp16 ReLU output (48 B) and the cast
# of the second weight (32 B), which the gradient of the ReLU output needs.
# The first weight's cast is not kept: x needs no gradient. sum's input is
# cast back to fp32, and sum keeps nothing.
SAVED_FP16 = 24 + 48 + 32


def _case(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model.to(device)
    data = dict(inputs=torch.randn(3, 4).to(device))
    optimizer = torch.optim.AdamW(model.parameters())
    return model, data, optimizer


def _loss(model, data):
    return model(data['inputs']).sum()


@pytest.mark.parametrize('device', ['meta', 'cpu'])
@pytest.mark.parametrize('amp,saved', [(None, SAVED_FP32),
                                       (torch.float16, SAVED_FP16)])
def test_small_network_by_hand(device, amp, saved):
    model, data, optimizer = _case(device)
    est = estimate_training_step(model, data, optimizer, amp, _loss)
    assert est.parameters == PARAMS and est.gradients == PARAMS
    # AdamW: exp_avg and exp_avg_sq per parameter, plus a 4-byte step
    # counter for each of the 4 tensors
    assert est.optimizer_state == 2 * PARAMS + 4 * 4
    assert est.inputs == 3 * 4 * 4
    assert est.saved_activations == saved
    assert est.camera_caches == 0
    # the largest tensor made: the 8 x 4 first weight's gradient and Adam
    # temporaries, 128 B
    assert est.largest_transient == 128
    assert est.total == 4 * PARAMS + 16 + 48 + saved + 128


def test_emulation_saves_what_cpu_autocast_saves():
    """On this network CPU bf16 autocast casts the same operations as the
    emulated CUDA list: the saved bytes agree."""
    model, data, _ = _case('cpu')
    counter = SavedTensors(exclude=model.parameters())
    with counter.counting(), torch.autocast('cpu', dtype=torch.bfloat16):
        _loss(model, data)
    emulated = SavedTensors(exclude=model.parameters())
    with emulated.counting(), EmulatedAutocast(torch.bfloat16):
        out = model(data['inputs'])
    assert out.dtype == torch.bfloat16
    assert counter.nbytes == emulated.nbytes == SAVED_FP16


def test_emulation_is_off_where_autocast_is_switched_off():
    from projects.OccDepth.occdepth.engine.memory_estimate import meta_autocast
    x = torch.randn(2, 3, device='meta')
    w = torch.randn(4, 3, device='meta')
    emulate = EmulatedAutocast(torch.float16)
    with meta_autocast(emulate), emulate:
        assert torch.nn.functional.linear(x, w).dtype == torch.float16
        with torch.autocast('meta', enabled=False):
            assert torch.nn.functional.linear(x, w).dtype == torch.float32
        half = torch.nn.functional.linear(x, w)
        assert half.softmax(-1).dtype == torch.float32
        assert torch.addcmul(x, half[:, :3], x).dtype == torch.float32
