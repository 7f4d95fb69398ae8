"""Distributed launch: NCCL on CUDA machines, gloo on CPUs, chosen for you.

``env_cfg.dist_cfg.backend = 'auto'`` (configs/_base_/default_runtime.py)
is resolved when a tool is launched with ``--launcher``: ``'nccl'`` when the
ranks use CUDA devices (``torch.cuda.is_available()``), ``'gloo'`` otherwise.
An explicit ``'gloo'`` or ``'nccl'`` is kept; ``'nccl'`` without CUDA is an
error (NCCL only moves CUDA tensors).

mmengine 0.10's ``init_dist('pytorch')`` always calls
``torch.cuda.set_device`` and its DDP wrapper always passes the local rank as
``device_ids``; both fail on a CPU-only torch. Under torchrun on such a
machine the tools therefore open the gloo process group themselves (mmengine
then skips its own initialisation) and build DDP without device ids. With
CUDA, mmengine initialises the group with the resolved backend.
"""
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

BACKENDS = ('auto', 'nccl', 'gloo')


def dist_backend(requested: str = 'auto', cuda: Optional[bool] = None) -> str:
    """The process-group backend of a launch.

    Args:
        requested: ``'auto'``, ``'nccl'`` or ``'gloo'``.
        cuda: Whether the ranks use CUDA devices; default:
            ``torch.cuda.is_available()``.

    Returns:
        ``'nccl'`` or ``'gloo'``.
    """
    if requested not in BACKENDS:
        raise ValueError(f'env_cfg.dist_cfg.backend must be one of '
                         f'{BACKENDS}, got {requested!r}')
    if cuda is None:
        cuda = torch.cuda.is_available()
    if requested == 'auto':
        return 'nccl' if cuda else 'gloo'
    if requested == 'nccl' and not cuda:
        raise ValueError("env_cfg.dist_cfg.backend is 'nccl' but CUDA is "
                         "not available: use 'auto' or 'gloo'")
    return requested


def prepare_distributed(cfg: Config) -> None:
    """Set the backend of a ``--launcher`` run; on CPUs open the group.

    Nothing changes without a launcher (``cfg.launcher`` is ``'none'``).
    """
    if cfg.get('launcher', 'none') == 'none':
        return
    env_cfg = dict(cfg.get('env_cfg') or {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    cuda = torch.cuda.is_available()
    backend = dist_backend(dist_cfg.get('backend', 'auto'), cuda)
    dist_cfg['backend'] = backend
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    if cuda:
        return
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def shutdown_distributed() -> None:
    """Close the process group before the interpreter exits.

    Leaving a gloo group open at exit can abort a rank ("terminate called
    without an active exception") after the work is done, which torchrun
    then reports as a failed run.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
