"""Test-suite set-up.

* The repository root must be importable.
* Every test starts in the ``mmdet3d`` registry scope that OccDepth's
  configs use (a test that builds a Runner may leave another scope current).
* torch uses one thread: the tests run tiny tensors, for which a second
  OpenMP thread only adds synchronisation (several times slower on a loaded
  2-core machine).
* Device tests: a test that takes the ``device`` fixture runs on the CPU and,
  when CUDA is available, on the GPU (skipped with a reason otherwise); one
  that takes ``precision`` runs in fp32 and under autocast (bf16 on the CPU,
  fp16 and bf16 on CUDA); ``amp`` is ``precision`` without fp32. Such tests
  carry the ``device`` marker: ``pytest -m device`` (``make test-device``)
  runs only them. On CUDA, TF32 is switched off so that the fp32 cases
  compute in fp32 as on the CPU.
"""
import os
import sys
from typing import NamedTuple, Optional

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
torch.set_num_threads(1)

CUDA = torch.cuda.is_available()
if CUDA:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
_NEEDS_CUDA = pytest.mark.skipif(not CUDA, reason='CUDA is not available')
DEVICES = [
    pytest.param('cpu', id='cpu'),
    pytest.param('cuda', id='cuda', marks=_NEEDS_CUDA),
]
# CPU autocast runs bf16 only: its fp16 kernels are slow and no CPU target
# trains in fp16.
AMP = [
    pytest.param(('cpu', torch.bfloat16), id='cpu-bf16'),
    pytest.param(('cuda', torch.float16), id='cuda-fp16', marks=_NEEDS_CUDA),
    pytest.param(('cuda', torch.bfloat16), id='cuda-bf16', marks=_NEEDS_CUDA),
]
PRECISIONS = [
    pytest.param(('cpu', None), id='cpu-fp32'),
    pytest.param(('cuda', None), id='cuda-fp32', marks=_NEEDS_CUDA),
] + AMP
DEVICE_FIXTURES = {'device', 'precision', 'amp'}


class Precision(NamedTuple):
    """A device and the autocast dtype of a test case (None: fp32)."""
    device: torch.device
    dtype: Optional[torch.dtype]

    @property
    def cpu_fp32(self) -> bool:
        """The case whose values the hand-computed references were made in
        (exact comparisons hold only here)."""
        return self.device.type == 'cpu' and self.dtype is None

    def autocast(self) -> torch.autocast:
        """Autocast to :attr:`dtype` on :attr:`device`; off for fp32."""
        return torch.autocast(
            self.device.type, dtype=self.dtype, enabled=self.dtype is not None)


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(params=PRECISIONS)
def precision(request) -> Precision:
    return Precision(torch.device(request.param[0]), request.param[1])


@pytest.fixture(params=AMP)
def amp(request) -> Precision:
    return Precision(torch.device(request.param[0]), request.param[1])


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if DEVICE_FIXTURES & set(getattr(item, 'fixturenames', ())):
            item.add_marker(pytest.mark.device)


@pytest.fixture(autouse=True)
def mmdet3d_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    yield


@pytest.fixture(autouse=True)
def one_torch_thread():
    """A tool's ``main()`` sizes torch's pool to the machine; the next test
    starts with one thread again (bit-exact comparisons with one-thread
    subprocesses depend on it)."""
    yield
    torch.set_num_threads(1)
