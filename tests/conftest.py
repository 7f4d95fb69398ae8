"""Test-suite set-up: the repository root must be importable, and every test
starts in the ``mmdet3d`` registry scope that OccDepth's configs use (a test
that builds a Runner may leave another scope current)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def mmdet3d_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    yield
