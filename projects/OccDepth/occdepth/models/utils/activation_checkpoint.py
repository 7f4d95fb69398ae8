"""Activation checkpointing that leaves BatchNorm running statistics alone.

``torch.utils.checkpoint`` runs a checkpointed module a second time during
the backward pass to rebuild its activations. A BatchNorm layer in training
mode updates its running mean and variance on every call, so plain
checkpointing applies the momentum update twice per step and the running
statistics (used in eval) drift from those of the same training without
checkpointing. :func:`checkpoint_module` restores them after the
recomputation, so checkpointing changes memory and time only.
"""
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

_STATS = ('running_mean', 'running_var', 'num_batches_tracked')


@contextmanager
def running_stats_kept(module: nn.Module) -> Iterator[None]:
    """Undo, on exit, the running-statistics updates made inside.

    Args:
        module: Every BatchNorm layer in it that tracks running statistics
            gets them back as they were on entry, also when the block exits
            early (the checkpoint's recomputation may stop as soon as it has
            what the backward pass needs).
    """
    norms = [
        m for m in module.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats
    ]
    saved = [[getattr(m, name).clone() for name in _STATS] for m in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for norm, values in zip(norms, saved):
                for name, value in zip(_STATS, values):
                    getattr(norm, name).copy_(value)


def checkpoint_module(module: nn.Module, *args: Any) -> Any:
    """``module(*args)`` with its activations recomputed in the backward.

    Non-reentrant :func:`torch.utils.checkpoint.checkpoint` (the RNG state is
    replayed); the recomputation leaves BatchNorm running statistics as the
    first call set them.

    Args:
        module: The module to run.
        *args: Its positional inputs.

    Returns:
        What ``module(*args)`` returns.
    """
    calls = []

    def run(*inputs: Any) -> Any:
        if not calls:
            calls.append(None)
            return module(*inputs)
        with running_stats_kept(module):
            return module(*inputs)

    return checkpoint(run, *args, use_reentrant=False)
