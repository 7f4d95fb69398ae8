"""Crash-safe checkpoints: ``kill -9`` while a checkpoint is written, broken
newest checkpoints on ``--resume``, and ``max_keep_ckpts``."""
import glob
import os
import shutil
import signal

import pytest
import torch
from mmdet3d.registry import RUNNERS

from projects.OccDepth.occdepth.engine.checkpointing import (CheckpointError,
                                                             atomic_output,
                                                             is_temp_file,
                                                             read_checkpoint,
                                                             resume_candidates)

# Runs tools/train.py (argv[2:]) and SIGKILLs the process half-way through
# writing the file whose name (temporary prefix '.' aside) starts with
# argv[1]: the first half of the bytes is on disk, as after a crash.
_KILL_DURING_WRITE = '''
import os, runpy, signal, sys
from mmengine.fileio.backends.local_backend import LocalBackend

target, tool = sys.argv[1], sys.argv[2]
put = LocalBackend.put


def put_then_die(self, obj, filepath):
    if os.path.basename(str(filepath)).lstrip('.').startswith(target):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
            f.flush()
            os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    put(self, obj, filepath)


LocalBackend.put = put_then_die
sys.argv = sys.argv[2:]
runpy.run_path(tool, run_name='__main__')
'''


def _cfg(tiny_config,
         data_root,
         work_dir,
         max_epochs=2,
         validate=False,
         keep=2):
    """The tiny demo config with deterministic training (no random
    transforms, no shuffling; the encoder's drop-connect is off by
    default). ``validate``: validate every epoch and keep the best mIoU
    checkpoint; otherwise neither (each checkpoint is ~260 MB to write)."""
    cfg = tiny_config(data_root, work_dir)
    cfg.experiment_name = os.path.basename(work_dir)
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = 1 if validate else max_epochs + 1
    if not validate:
        cfg.default_hooks.checkpoint.save_best = None
    cfg.param_scheduler[0].milestones = [1]
    cfg.param_scheduler[0].end = max_epochs
    cfg.train_dataloader.dataset.pipeline = [
        step for step in cfg.train_dataloader.dataset.pipeline
        if step['type'] not in ('StereoPhotoMetricDistortion',
                                'RandomStereoFlip')
    ]
    cfg.train_dataloader.sampler.shuffle = False
    cfg.train_dataloader.batch_size = 2  # both frames: 1 iteration an epoch
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.default_hooks.checkpoint.max_keep_ckpts = keep
    return cfg


def _weights(path):
    return read_checkpoint(path)['state_dict']


_REFERENCE_RUNS = {}


@pytest.fixture
def reference_run(tiny_kitti, tiny_config, tmp_path_factory):
    """Work dir of an uninterrupted 2-epoch run of :func:`_cfg` (trained
    once per session; copy it before changing anything in it)."""
    if tiny_kitti not in _REFERENCE_RUNS:
        work_dir = str(tmp_path_factory.mktemp('reference') / 'run')
        RUNNERS.build(_cfg(tiny_config, tiny_kitti, work_dir)).train()
        _REFERENCE_RUNS[tiny_kitti] = work_dir
    return _REFERENCE_RUNS[tiny_kitti]


def test_kill_while_writing_a_checkpoint_then_resume(tiny_kitti, tiny_config,
                                                     reference_run, tmp_path,
                                                     run_python):
    # keep=1: the old hook deleted epoch_1.pth before writing epoch_2.pth
    config = str(tmp_path / 'tiny.py')
    work_dir = str(tmp_path / 'killed')
    _cfg(tiny_config, tiny_kitti, work_dir, keep=1).dump(config)

    proc = run_python([
        '-c', _KILL_DURING_WRITE, 'epoch_2.pth', 'tools/train.py', config,
        '--work-dir', work_dir
    ])
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    after_kill = sorted(os.listdir(work_dir))
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        pointed = f.read()

    proc = run_python(
        ['tools/train.py', config, '--work-dir', work_dir, '--resume'])
    assert proc.returncode == 0, proc.stderr[-3000:]

    # the kill left epoch 1 whole, last_checkpoint naming it, and the half
    # written epoch 2 under a temporary name only
    temps = [name for name in after_kill if is_temp_file(name)]
    assert [name for name in after_kill
            if name.endswith('.pth')] == ['epoch_1.pth']
    assert len(temps) == 1 and temps[0].startswith('.epoch_2.pth.')
    assert pointed == os.path.join(work_dir, 'epoch_1.pth')
    # --resume continued from epoch 1, removed the leftover and finished
    assert f'Removed {os.path.join(work_dir, temps[0])}' in proc.stdout
    assert 'resumed epoch: 1, iter: 1' in proc.stdout
    names = sorted(os.listdir(work_dir))
    assert not [name for name in names if is_temp_file(name)]
    assert [name for name in names
            if name.startswith('epoch_')] == ['epoch_2.pth']
    # the same weights as the uninterrupted run (keep=2 there, no matter)
    reference = _weights(os.path.join(reference_run, 'epoch_2.pth'))
    resumed = _weights(os.path.join(work_dir, 'epoch_2.pth'))
    assert resumed.keys() == reference.keys()
    for key, value in resumed.items():
        assert torch.equal(value, reference[key]), key


def test_keeps_the_last_two_and_deletes_only_after_writing(
        tiny_kitti, tiny_config, tmp_path):
    work_dir = str(tmp_path / 'keep')
    runner = RUNNERS.build(
        _cfg(tiny_config, tiny_kitti, work_dir, max_epochs=3, validate=True))
    present_at_write = {}
    save = runner.save_checkpoint

    def recording_save(out_dir, filename, *args, **kwargs):
        # the first write of each checkpoint (a new best saves it again)
        present_at_write.setdefault(
            filename.split('.pth')[0].lstrip('.'),
            {name
             for name in os.listdir(out_dir) if name.endswith('.pth')})
        save(out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = recording_save
    runner.train()

    names = sorted(os.listdir(work_dir))
    best = [name for name in names if name.startswith('best_mIoU_epoch_')]
    assert len(best) == 1
    assert [name for name in names if name.endswith('.pth')
            ] == sorted(best + ['epoch_2.pth', 'epoch_3.pth'])
    assert not [name for name in names if is_temp_file(name)]
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == os.path.join(work_dir, 'epoch_3.pth')
    # epoch_1.pth was still there while epoch_3.pth was written
    assert 'epoch_1.pth' in present_at_write['epoch_3']
    assert runner.message_hub.get_info('keep_ckpt_ids') == [2, 3]


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'last_names_gone'])
def test_resume_skips_a_broken_newest_checkpoint(tiny_kitti, tiny_config,
                                                 reference_run, tmp_path,
                                                 damage):
    work_dir = str(tmp_path / damage)
    shutil.copytree(reference_run, work_dir)
    newest = os.path.join(work_dir, 'epoch_2.pth')
    last = os.path.join(work_dir, 'last_checkpoint')
    with open(last, 'w') as f:
        f.write(newest)
    if damage == 'empty':
        open(newest, 'wb').close()
        skipped, reason = newest, 'empty file (0 bytes)'
    elif damage == 'truncated':
        size = os.path.getsize(newest)
        with open(newest, 'r+b') as f:
            f.truncate(size - 100)
        skipped, reason = newest, f'truncated ({size - 100} bytes'
    else:
        os.remove(newest)
        # e.g. a checkpoint of another run that last_checkpoint still names
        skipped = os.path.join(work_dir, 'iter_9.pth')
        with open(last, 'w') as f:
            f.write(skipped)
        reason = 'no such file'
    assert resume_candidates(work_dir)[:2] == [
        skipped, os.path.join(work_dir, 'epoch_1.pth')
    ]

    cfg = _cfg(tiny_config, tiny_kitti, work_dir)
    cfg.experiment_name = f'{damage}_resumed'
    cfg.resume = True
    runner = RUNNERS.build(cfg)
    if damage == 'empty':  # train to the end once
        runner.train()
    else:  # what --resume does before training
        runner.load_or_resume()
    with open(os.path.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    assert f'Cannot resume from {skipped}: {reason}' in log
    assert 'Auto resumed from the latest checkpoint ' \
        f'{os.path.join(work_dir, "epoch_1.pth")}' in log
    assert 'resumed epoch: 1, iter: 1' in log
    if damage == 'empty':
        assert runner.iter == 2
        reference = _weights(os.path.join(reference_run, 'epoch_2.pth'))
        resumed = _weights(newest)
        for key, value in resumed.items():
            assert torch.equal(value, reference[key]), key


def test_resume_refuses_when_no_checkpoint_can_be_loaded(
        tiny_kitti, tiny_config, tmp_path):
    work_dir = str(tmp_path / 'broken')
    os.makedirs(work_dir)
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        open(os.path.join(work_dir, name), 'wb').close()
    cfg = _cfg(tiny_config, tiny_kitti, work_dir)
    cfg.resume = True
    runner = RUNNERS.build(cfg)
    with pytest.raises(CheckpointError) as info:
        runner.load_or_resume()
    assert str(info.value) == (
        f'{work_dir}: none of its checkpoints can be resumed from: '
        f'{work_dir}/epoch_2.pth: empty file (0 bytes); '
        f'{work_dir}/epoch_1.pth: empty file (0 bytes)')


def test_atomic_output_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    with open(path, 'w') as f:
        f.write('old')
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_output(path) as temp:
            with open(temp, 'w') as f:
                f.write('half')
            raise RuntimeError('disk full')
    with open(path) as f:
        assert f.read() == 'old'
    assert os.listdir(tmp_path) == ['epoch_1.pth']

    with atomic_output(path) as temp:
        assert os.path.dirname(temp) == str(tmp_path)
        assert is_temp_file(os.path.basename(temp))
        with open(temp, 'w') as f:
            f.write('new')
    with open(path) as f:
        assert f.read() == 'new'
    assert glob.glob(str(tmp_path / '*')) == [path]
