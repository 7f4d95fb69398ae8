"""mmengine checkpoints load under torch's safe (weights_only) loader."""
import collections
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim.scheduler import MultiStepLR
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

import projects.OccDepth.occdepth  # noqa: F401 (registers the allow-list)
from projects.OccDepth.occdepth.engine.checkpointing import read_checkpoint


class _Untrusted:
    pass


def test_message_hub_numpy_and_scheduler_state_load(tmp_path):
    hub = MessageHub.get_instance('ckpt-safety')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('meta', np.arange(3))
    model = torch.nn.Linear(2, 2)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = MultiStepLR(optim, milestones=[2, 4], gamma=0.4)
    ckpt = dict(
        meta=dict(epoch=1, iter=7, seed=np.int64(42)),
        state_dict=model.state_dict(),
        optimizer=optim.state_dict(),
        message_hub=hub.state_dict(),
        param_schedulers=[sched.state_dict()])
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(ckpt, path)

    # the project's loader (tools, OccDepthRunner) and mmengine's
    for loaded in (read_checkpoint(path),
                   _load_checkpoint(path, map_location='cpu')):
        buf = loaded['message_hub']['log_scalars']['train/loss']
        assert buf.mean() == pytest.approx(0.375)
        assert loaded['meta']['iter'] == 7
        assert isinstance(loaded['param_schedulers'][0]['milestones'],
                          collections.Counter)
        assert torch.equal(loaded['state_dict']['weight'], model.weight)


def test_other_objects_are_still_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': _Untrusted()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
