"""No host synchronisation in a training step's forward, losses and backward.

On a GPU every read of a device tensor by the host (``.item()``,
``bool(t)``, ``.cpu()``, ``.tolist()``, data-dependent sizes such as
``nonzero``, boolean-mask indexing, ``unique`` or ``bincount``) waits for
the queued kernels. The meta device stands in for the GPU here: meta
tensors have shapes but no data, so each of those reads raises. The model
runs a tiny training step with its parameters, images and labels on the
meta device; only the camera metainfo (numpy, on the host) is read by the
host, as it is on a GPU.
"""
import pytest
import torch
from mmdet3d.registry import MODELS
from test_occdepth import make_batch, small_model_cfg

from projects.OccDepth.occdepth.engine.memory_estimate import (meta_autocast,
                                                               move_batch)


def _train_step_on_meta(model, batch):
    """Autocast knows no meta device: ``meta_autocast`` lets the losses'
    ``torch.autocast(device, enabled=False)`` regions run."""
    model.train()
    data = move_batch(model.data_preprocessor(batch, True), 'meta')
    model.to('meta')
    with meta_autocast():
        losses = model(**data, mode='loss')
        sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.device.type == 'meta' for g in grads)
    return losses


def test_stereo_training_step_reads_no_device_tensor():
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg())
    losses = _train_step_on_meta(model, make_batch())
    assert set(losses) == {
        'loss_ce', 'loss_sem_scal', 'loss_geo_scal', 'loss_frustum',
        'loss_relation', 'loss_occ', 'loss_depth'
    }
    # the camera caches were keyed from the host copies of the matrices
    assert len(model.frustum_cache) == 2  # two samples, one flipped
    assert len(model.view_transformer.cache) == 2


@pytest.mark.parametrize('level', ['image', 'feature'])
def test_virtual_stereo_training_step_reads_no_device_tensor(level):
    """RGB-D: one real view, the virtual one from the depth map; the
    calibration holds both cameras, the flip check reads the host ida_mat."""
    torch.manual_seed(0)
    model = MODELS.build(
        small_model_cfg(
            num_views=1,
            virtual_stereo=dict(
                type='VirtualStereo', baseline=0.54, level=level)))
    batch = make_batch(num_views=2)
    batch['inputs']['imgs'] = [img[:1] for img in batch['inputs']['imgs']]
    losses = _train_step_on_meta(model, batch)
    assert 'loss_depth' in losses


def test_meta_stands_in_for_a_device():
    """The premise: every host read of a meta tensor raises."""
    t = torch.ones(3, device='meta')
    reads = (lambda: t.sum().item(), lambda: bool(t.any()), t.tolist, t.cpu,
             t.nonzero, lambda: t[t > 0], lambda: torch.unique(t),
             lambda: torch.bincount(t.long()))
    for read in reads:
        with pytest.raises((RuntimeError, NotImplementedError)):
            read()
