"""CPU thread counts from the affinity mask and hand-made cgroup files."""
import os
import runpy
import sys

import pytest
import torch
from mmengine.runner import Runner
from torch.utils.data import Dataset

from projects.OccDepth.occdepth.engine import threads

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = ('tools/train.py', 'tools/test.py', 'tools/run_demo.py',
         'tools/analysis_tools/benchmark.py')
SPIN = "os.environ.setdefault('GOMP_SPINCOUNT', '1000')"


@pytest.fixture
def affinity(monkeypatch):
    """Pretend the process may run on ``n`` CPUs."""

    def set_cpus(n):
        monkeypatch.setattr(threads.os, 'sched_getaffinity',
                            lambda pid: set(range(n)))

    return set_cpus


@pytest.fixture
def no_user_settings(monkeypatch):
    """No user thread settings; tests/conftest.py resets torch to one
    thread afterwards."""
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)


def v2(root, text):
    (root / 'cpu.max').write_text(text + '\n')
    return str(root)


def v1(root, quota, period='100000'):
    (root / 'cpu').mkdir()
    (root / 'cpu' / 'cpu.cfs_quota_us').write_text(quota + '\n')
    if period is not None:
        (root / 'cpu' / 'cpu.cfs_period_us').write_text(period + '\n')
    return str(root)


@pytest.mark.parametrize(
    'text, cpus, expected',
    [
        ('150000 100000', 4, 1),  # 1.5 CPUs: rounded down
        ('250000 100000', 4, 2),
        ('50000 100000', 4, 1),  # under one CPU: still one thread
        ('800000 100000', 3, 3),  # the affinity mask is the smaller cap
        ('max 100000', 3, 3),  # no quota
    ])
def test_cgroup_v2_quota(tmp_path, affinity, text, cpus, expected):
    affinity(cpus)
    assert threads.available_cpus(v2(tmp_path, text)) == expected


@pytest.mark.parametrize('quota, cpus, expected', [('-1', 6, 6),
                                                   ('300000', 6, 3),
                                                   ('150000', 6, 1)])
def test_cgroup_v1_quota(tmp_path, affinity, quota, cpus, expected):
    affinity(cpus)
    assert threads.available_cpus(v1(tmp_path, quota)) == expected


def test_no_cgroup_files_uses_affinity(tmp_path, affinity):
    affinity(5)
    assert threads.cgroup_cpu_quota(str(tmp_path)) is None
    assert threads.available_cpus(str(tmp_path)) == 5


def test_quota_in_cpus(tmp_path):
    assert threads.cgroup_cpu_quota(v2(tmp_path, '150000 100000')) == 1.5


@pytest.mark.parametrize('text', ['abc 100000', '150000', '0 100000'])
def test_bad_cpu_max_names_the_file(tmp_path, text):
    root = v2(tmp_path, text)
    with pytest.raises(ValueError, match='cpu.max'):
        threads.cgroup_cpu_quota(root)


def test_v1_quota_without_period_names_the_file(tmp_path):
    root = v1(tmp_path, '200000', period=None)
    with pytest.raises(ValueError, match='cpu.cfs_period_us: missing'):
        threads.cgroup_cpu_quota(root)


def test_configure_uses_available_cpus(tmp_path, affinity, no_user_settings):
    affinity(4)
    root = v2(tmp_path, '300000 100000')
    assert threads.configure_cpu_threads(cgroup_root=root) == 3
    assert torch.get_num_threads() == 3


def test_configure_shares_cpus_between_local_ranks(tmp_path, affinity,
                                                   no_user_settings,
                                                   monkeypatch):
    affinity(5)
    root = str(tmp_path)
    assert threads.configure_cpu_threads(processes=2, cgroup_root=root) == 2
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '8')  # torchrun: more ranks
    assert threads.configure_cpu_threads(cgroup_root=root) == 1
    assert torch.get_num_threads() == 1


def test_configure_explicit_request_wins(tmp_path, affinity, no_user_settings):
    affinity(1)
    assert threads.configure_cpu_threads(3, cgroup_root=str(tmp_path)) == 3
    assert torch.get_num_threads() == 3


def test_configure_keeps_user_omp_num_threads(tmp_path, affinity,
                                              no_user_settings, monkeypatch):
    affinity(4)
    torch.set_num_threads(1)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    assert threads.configure_cpu_threads(cgroup_root=str(tmp_path)) == 1
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize('kwargs', [dict(requested=0), dict(processes=0)])
def test_configure_rejects_zero(no_user_settings, kwargs):
    with pytest.raises(ValueError, match='at least 1'):
        threads.configure_cpu_threads(**kwargs)


class ThreadCount(Dataset):
    """Each sample: the process reading it and its torch thread count."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return dict(pid=os.getpid(), threads=torch.get_num_threads())


def test_data_workers_run_one_thread(no_user_settings):
    torch.set_num_threads(2)
    loader = Runner.build_dataloader(
        dict(
            dataset=ThreadCount(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=1,
            num_workers=1,
            collate_fn=dict(type='pseudo_collate')),
        seed=0)
    batches = list(loader)
    assert [batch['threads'] for batch in batches] == [[1], [1]]
    assert os.getpid() not in [batch['pid'][0] for batch in batches]
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize('tool', TOOLS)
def test_tools_shorten_openmp_spin_before_torch_loads(tool):
    with open(os.path.join(ROOT, tool)) as f:
        source = f.read()
    first_import = min(
        source.index(line) for line in ('\nimport torch', '\nimport numpy',
                                        '\nfrom mmdet3d', '\nfrom mmengine')
        if line in source)
    assert source.index(SPIN) < first_import


@pytest.mark.parametrize('tool', TOOLS)
@pytest.mark.parametrize('user, expected', [
    ({}, '1000'),
    ({
        'GOMP_SPINCOUNT': '5'
    }, '5'),
    ({
        'OMP_WAIT_POLICY': 'ACTIVE'
    }, None),
])
def test_tools_keep_the_users_openmp_settings(tool, user, expected,
                                              monkeypatch):
    monkeypatch.setattr(sys, 'path', list(sys.path))
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in ('GOMP_SPINCOUNT', 'OMP_WAIT_POLICY')
    }
    environ.update(user)
    monkeypatch.setattr(os, 'environ', environ)  # the tool's os.environ
    runpy.run_path(os.path.join(ROOT, tool), run_name='imported')
    assert environ.get('GOMP_SPINCOUNT') == expected
