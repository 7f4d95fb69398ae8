"""Distributed launch on machines without CUDA (CPU / gloo).

mmengine 0.10's ``init_dist('pytorch')`` always calls
``torch.cuda.set_device`` and its DDP wrapper always passes the local rank as
``device_ids``; both fail on a CPU-only torch. Under torchrun on such a
machine the tools therefore open the gloo process group themselves (mmengine
then skips its own initialisation) and build DDP without device ids. With
CUDA nothing changes.
"""
import torch
import torch.distributed as dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> None:
    """Make ``cfg`` run distributed on CPUs when launched by torchrun."""
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if 'env_cfg' in cfg and 'dist_cfg' in cfg.env_cfg:
        cfg.env_cfg.dist_cfg.backend = 'gloo'


def shutdown_distributed() -> None:
    """Close the process group before the interpreter exits.

    Leaving a gloo group open at exit can abort a rank ("terminate called
    without an active exception") after the work is done, which torchrun
    then reports as a failed run.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
