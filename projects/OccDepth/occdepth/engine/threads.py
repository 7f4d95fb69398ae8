"""How many torch threads a CPU run uses.

``os.cpu_count()`` counts the CPUs of the machine, not those this process
may use: a container or ``taskset`` narrows the affinity mask, and a cgroup
CPU quota (``docker --cpus``, Kubernetes limits) caps the CPU time of the
whole group. More OpenMP threads than that makes every parallel region wait
at its barrier for a thread that is not running. The tools therefore size
torch's intra-op pool with :func:`available_cpus`.

Data-loader workers: torch's DataLoader calls ``torch.set_num_threads(1)``
in every worker process before its first sample, and mmengine's
``env_cfg.mp_cfg.opencv_num_threads=0`` (``configs/_base_/
default_runtime.py``) turns off OpenCV's own pool, so each worker runs on
one thread; ``tests/test_engine/test_threads.py`` checks it for a loader
built by mmengine's ``Runner.build_dataloader``.

Waiting: torch's Linux wheels use GNU libgomp, whose idle threads spin
300000 times (``GOMP_SPINCOUNT``) before they sleep; libgomp shortens that
to 100 only when it sees more threads than CPUs, not when other processes
use the CPUs. The tools set ``GOMP_SPINCOUNT=1000`` before torch loads
(unless the user set it or ``OMP_WAIT_POLICY``). Train step of
``configs/occdepth_demo.py`` (benchmark.py --mode train --threads 2, median
of 3 steps, 3 runs each, 2 CPUs; "busy": two other processes spinning;
the default was run in both measurement sessions):

=======================  ================  ================
OpenMP setting           idle, s/step      busy, s/step
=======================  ================  ================
libgomp default          1.30, 1.32, 1.31  9.6, 6.5, 7.7, 4.7, 7.0, 6.0
GOMP_SPINCOUNT=1000      1.31, 1.27, 1.40  2.80, 2.60, 2.96
GOMP_SPINCOUNT=10000     1.31, 1.27, 1.33  3.60, 3.21, 4.15
OMP_WAIT_POLICY=PASSIVE  1.52, 1.67, 1.48  2.56, 3.00, 2.55
one thread               2.14, 2.14, 2.13  2.88, 3.11, 3.12
=======================  ================  ================

``PASSIVE`` (no spinning) is as good when busy but 15 % slower when idle.
"""
import math
import os
import os.path as osp
from typing import Optional

import torch

CGROUP_ROOT = '/sys/fs/cgroup'


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def cgroup_cpu_quota(cgroup_root: str = CGROUP_ROOT) -> Optional[float]:
    """The CPU quota of this process's cgroup, in CPUs, or None if unlimited.

    Reads cgroup v2 ``<root>/cpu.max`` (``"<quota> <period>"`` or
    ``"max <period>"``), else cgroup v1 ``<root>/cpu/cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us`` (quota ``-1``: unlimited). The files at the root
    are those of the process's own group inside a container (cgroup
    namespace), which is where a CPU limit is set.

    Raises:
        ValueError: a quota file holds something else; the message names it.
    """
    v2 = osp.join(cgroup_root, 'cpu.max')
    text = _read(v2)
    if text is not None:
        fields = text.split()
        if len(fields) != 2:
            raise ValueError(f'{v2}: expected "<quota|max> <period>", got '
                             f'{text!r}')
        if fields[0] == 'max':
            return None
        return _ratio(v2, fields[0], fields[1])
    quota_file = osp.join(cgroup_root, 'cpu', 'cpu.cfs_quota_us')
    quota = _read(quota_file)
    if quota is None or quota == '-1':
        return None
    period_file = osp.join(cgroup_root, 'cpu', 'cpu.cfs_period_us')
    period = _read(period_file)
    if period is None:
        raise ValueError(f'{period_file}: missing beside {quota_file}')
    return _ratio(f'{quota_file} / {period_file}', quota, period)


def _ratio(source: str, quota: str, period: str) -> float:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        raise ValueError(f'{source}: quota and period must be integers, got '
                         f'{quota!r} and {period!r}') from None
    if quota_us <= 0 or period_us <= 0:
        raise ValueError(f'{source}: quota and period must be positive, got '
                         f'{quota_us} and {period_us}')
    return quota_us / period_us


def available_cpus(cgroup_root: str = CGROUP_ROOT) -> int:
    """The CPUs this process can keep busy: its affinity mask, capped by the
    cgroup quota rounded down, at least 1.

    Rounded down because the kernel stops every thread of the group for the
    rest of the period once the quota is spent: with 1.5 CPUs, two threads
    would be throttled in turn in the middle of parallel regions, while one
    thread never is.
    """
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.floor(quota))
    return max(1, cpus)


def configure_cpu_threads(requested: Optional[int] = None,
                          processes: Optional[int] = None,
                          cgroup_root: str = CGROUP_ROOT) -> int:
    """Set torch's intra-op thread count and return it.

    Args:
        requested: the count asked for on the command line; None picks
            ``available_cpus() // processes`` (at least 1), unless the user
            set ``OMP_NUM_THREADS``, which torch has already applied.
        processes: processes of this run on this machine (distributed CPU
            ranks), which share the available CPUs; None reads torchrun's
            ``LOCAL_WORLD_SIZE`` (1 when it is not set).
        cgroup_root: where the cgroup files are (tests pass a tmp dir).
    """
    if requested is not None and requested < 1:
        raise ValueError(f'threads must be at least 1, got {requested}')
    if processes is None:
        processes = int(os.environ.get('LOCAL_WORLD_SIZE', '1'))
    if processes < 1:
        raise ValueError(f'processes must be at least 1, got {processes}')
    if requested is None and 'OMP_NUM_THREADS' in os.environ:
        return torch.get_num_threads()
    threads = requested or max(1, available_cpus(cgroup_root) // processes)
    torch.set_num_threads(threads)
    return threads
