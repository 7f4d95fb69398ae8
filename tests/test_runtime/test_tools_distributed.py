"""The command-line tools, single-process and with 2 gloo ranks (torchrun).

Trains two iterations per rank of the tiny config with tools/dist_train.sh
on two CPU ranks, then evaluates the checkpoint with tools/test.py (1 rank)
and tools/dist_test.sh (2 ranks): the metric must not depend on the number of
ranks, because SSCMetric sums per-sample confusion matrices. The configs run
DDP with ``find_unused_parameters=False``: a parameter that gets no gradient
in the first step makes the second one fail ("Expected to have finished
reduction in the prior iteration"), so training needs two iterations here.
"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', 'occdepth_demo.py')
METRIC = re.compile(r'Epoch\(test\).*?SC_IoU: ([\d.]+).*?mIoU: ([\d.]+)')
SECOND_ITER = re.compile(r'Epoch\(train\) +\[1\]\[2/2\]')


def _cli_options(options: dict) -> list:
    args = []
    for key, value in options.items():
        if isinstance(value, (list, tuple)):
            value = '(' + ','.join(repr(v) for v in value) + ',)'
        args.append(f'{key}={value}')
    return args


def _run(cmd, cwd=ROOT, env=None):
    full_env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run(
        cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f'{" ".join(cmd)} failed:\n{proc.stdout[-3000:]}\n'
                    f'{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr


def _metric(log: str):
    found = METRIC.findall(log)
    assert found, log[-3000:]
    return tuple(float(v) for v in found[-1])


def _crop_options():
    steps = ('train_dataloader.dataset.pipeline.0.crop_size',
             'train_dataloader.dataset.pipeline.2.crop_size',
             'val_dataloader.dataset.pipeline.0.crop_size',
             'test_dataloader.dataset.pipeline.0.crop_size')
    return {k: (48, 160) for k in steps}


def test_dist_train_and_test_match_single_rank(tiny_kitti, tiny_options,
                                               tmp_path):
    work_dir = str(tmp_path / 'work')
    options = tiny_options(tiny_kitti, work_dir)
    options.update(_crop_options())
    options.update({
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.save_best': None,
        'env_cfg.dist_cfg.backend': 'gloo',
        # 4 frames on 2 ranks: 2 iterations per rank
        'train_dataloader.dataset.sequences': ['00', '08'],
    })
    common = ['--cfg-options'] + _cli_options(options)
    port = str(29500 + os.getpid() % 1000)
    env = dict(PORT=port, MASTER_ADDR='127.0.0.1')
    log = _run(['bash', 'tools/dist_train.sh', CONFIG, '2'] + common, env=env)
    assert SECOND_ITER.search(log), log[-3000:]
    ckpt = os.path.join(work_dir, 'epoch_1.pth')
    assert os.path.isfile(ckpt)

    single = _run([
        sys.executable, 'tools/test.py', CONFIG, ckpt, '--show-dir',
        str(tmp_path / 'renders')
    ] + common)
    double = _run(
        ['bash', 'tools/dist_test.sh', CONFIG, ckpt, '2'] + common, env=env)
    assert _metric(single) == pytest.approx(_metric(double), abs=1e-4)
    renders = sorted(os.listdir(tmp_path / 'renders'))
    assert renders == ['08_000000.png', '08_000005.png']
