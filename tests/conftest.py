"""Test-suite set-up.

* The repository root must be importable.
* Every test starts in the ``mmdet3d`` registry scope that OccDepth's
  configs use (a test that builds a Runner may leave another scope current).
* torch uses one thread: the tests run tiny tensors, for which a second
  OpenMP thread only adds synchronisation (several times slower on a loaded
  2-core machine).
"""
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
torch.set_num_threads(1)


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
