"""Training randomness that a ``--resume`` reproduces exactly."""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.seeding import (TRAIN_ITER_STREAM,
                                                         SeededSampler,
                                                         derive_seed)


@HOOKS.register_module()
class ResumableRandomnessHook(Hook):
    """Makes a resumed run draw the random numbers of an uninterrupted one.

    mmengine restores the model, optimizer, schedulers and the message hub
    on ``--resume``, but not the random state of training:

    - The train sampler is built before the checkpoint is loaded, with the
      config's seed or, when ``randomness.seed`` is ``None`` (or
      ``diff_rank_seed`` is set), a freshly drawn one, which shuffles and
      augments differently from the run being resumed. Before training,
      this hook keeps the sampler's seed in the message hub's runtime info
      (saved with every checkpoint and restored by ``--resume`` only): a
      fresh run records its sampler's seed, a resumed run gives its sampler
      the recorded one.
    - The global RNGs of the main process are where the model's random
      draws in training come from (e.g. the encoder's drop-connect,
      ``drop_connect_rate``), and their state at an iteration depends on
      the process' history (the data loader draws a worker base seed from
      torch's RNG whenever it starts workers: once per run with persistent
      workers, once per epoch without). Before every training iteration
      this hook seeds torch's (CPU and CUDA), numpy's and Python's global
      RNGs from ``(runner.seed, runner.iter)``.

    Together with :class:`SeededSampler` (per-sample seeds of the data
    pipeline) a resumed run then reproduces the uninterrupted run exactly on
    the CPU. A training loader without ``SeededSampler`` keeps its sampler
    seed but draws augmentations from the workers' RNG streams; the hook
    warns about it.
    """

    priority = 'NORMAL'
    SEED_KEY = 'train_sampler_seed'

    def before_train(self, runner) -> None:
        """Record the sampler's seed, or restore the resumed run's seed."""
        sampler = runner.train_dataloader.sampler
        if not isinstance(sampler, SeededSampler):
            print_log(
                f'ResumableRandomnessHook: the training sampler is '
                f'{type(sampler).__name__}, not SeededSampler: the data '
                f'augmentation of a resumed run will differ from an '
                f'uninterrupted run',
                logger='current',
                level=logging.WARNING)
        if not hasattr(sampler, 'seed'):
            return
        recorded: Optional[int] = runner.message_hub.get_info(self.SEED_KEY)
        if recorded is None:
            runner.message_hub.update_info(self.SEED_KEY, sampler.seed)
        elif recorded != sampler.seed:
            print_log(
                f'ResumableRandomnessHook: the training sampler takes the '
                f'seed {recorded} of the resumed run (it was built with '
                f'{sampler.seed})',
                logger='current')
            sampler.seed = recorded

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        """Seed the global RNGs from the run's seed and the iteration."""
        seed = derive_seed(runner.seed, TRAIN_ITER_STREAM, runner.iter)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
