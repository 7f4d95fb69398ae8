"""Training through mmengine's Runner, ``kill -9`` mid-epoch and --resume,
with the demo's random data pipeline: the resumed run is bit-identical."""
import os
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Trains the dumped config argv[1] and SIGKILLs its own process (the
# persistent data-loader worker dies with it) after iteration argv[2].
_KILLED_RUN = '''
import os, signal, sys
sys.path.insert(0, os.getcwd())
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

torch.set_num_threads(1)


class KillAtIter(Hook):

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)


runner = Runner.from_cfg(Config.fromfile(sys.argv[1]))
runner.register_hook(KillAtIter())
runner.train()
'''


def _cfg(tiny_config, data_root, work_dir, resume=False):
    cfg = tiny_config(data_root, work_dir)
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.param_scheduler[0].milestones = [1]
    cfg.param_scheduler[0].end = 2
    # the demo's random data: shuffled, flipped and jittered, loaded by a
    # persistent worker; random drop-connect in the model
    assert cfg.train_dataloader.sampler == dict(
        type='SeededSampler', shuffle=True)
    steps = [step['type'] for step in cfg.train_dataloader.dataset.pipeline]
    assert 'StereoPhotoMetricDistortion' in steps
    assert 'RandomStereoFlip' in steps
    cfg.train_dataloader.num_workers = 1
    cfg.train_dataloader.persistent_workers = True
    cfg.model.backbone.drop_connect_rate = 0.2
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.resume = resume
    return cfg


def test_resume_after_kill_matches_uninterrupted_run(tiny_kitti, tiny_config,
                                                     tmp_path):
    straight = Runner.from_cfg(
        _cfg(tiny_config, tiny_kitti, str(tmp_path / 'a')))
    straight.train()
    reference = {k: v.clone() for k, v in straight.model.state_dict().items()}
    ref_optim = straight.optim_wrapper.optimizer.state_dict()

    work_dir = str(tmp_path / 'b')
    cfg_file = str(tmp_path / 'killed_run.py')
    _cfg(tiny_config, tiny_kitti, work_dir).dump(cfg_file)
    proc = subprocess.run([sys.executable, '-c', _KILLED_RUN, cfg_file, '3'],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    # killed in iteration 3 (epoch 2); the last checkpoint is epoch 1
    assert os.path.isfile(os.path.join(work_dir, 'epoch_1.pth'))
    assert not os.path.isfile(os.path.join(work_dir, 'epoch_2.pth'))

    resumed = Runner.from_cfg(
        _cfg(tiny_config, tiny_kitti, work_dir, resume=True))
    resumed.train()
    assert resumed.iter == straight.iter == 4
    assert resumed.epoch == straight.epoch == 2
    sched = resumed.param_schedulers[0]
    assert sched.last_step == straight.param_schedulers[0].last_step
    lr = resumed.optim_wrapper.get_lr()['lr'][0]
    assert lr == pytest.approx(straight.optim_wrapper.get_lr()['lr'][0])
    state = resumed.optim_wrapper.optimizer.state_dict()
    steps = [s['step'] for s in state['state'].values()]
    ref_steps = [s['step'] for s in ref_optim['state'].values()]
    assert [float(s) for s in steps] == [float(s) for s in ref_steps]
    # bit for bit: every weight and buffer (BN statistics included)
    for key, value in resumed.model.state_dict().items():
        assert torch.equal(value, reference[key]), key
