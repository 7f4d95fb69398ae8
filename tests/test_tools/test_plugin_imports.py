"""The plugin package imports no offline tooling.

The label exporters and the synthetic generator live in
``tools/dataset_converters`` and are run by the ``tools/create_*.py``
scripts; importing ``projects.OccDepth.occdepth`` (what every config and
tool does) must not load them.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OFFLINE_MODULES = ('synthetic_kitti', 'synthetic_streets', 'synthetic_voxels',
                   'synthetic_sensors', 'tartanair_raw', 'tartanair_labels',
                   'tartanair_ssc')


def _modules_after(statement: str) -> set:
    """Names in ``sys.modules`` after ``statement`` in a fresh interpreter."""
    code = f'{statement}\nimport sys\nprint("\\n".join(sorted(sys.modules)))'
    out = subprocess.run([sys.executable, '-c', code],
                         cwd=ROOT,
                         capture_output=True,
                         text=True,
                         check=True)
    return set(out.stdout.split())


def test_plugin_does_not_import_offline_tooling():
    loaded = _modules_after('import projects.OccDepth.occdepth')
    assert 'projects.OccDepth.occdepth.datasets.tartanair' in loaded
    tooling = sorted(name for name in loaded
                     if name == 'tools' or name.startswith('tools.')
                     or name.rsplit('.', 1)[-1] in OFFLINE_MODULES)
    assert tooling == []
