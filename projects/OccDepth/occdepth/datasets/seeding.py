"""Per-sample seeds of the training data pipeline, for an exact ``--resume``.

The transforms draw from numpy's global RNG (the mmcv convention). In a
data-loader worker that RNG is seeded once, when the worker starts, so the
draws of a sample depend on everything the worker did before: a persistent
worker continues its stream across epochs, while the fresh worker of a
resumed run starts it over, and the draws also change with the number of
workers. Here every draw is made a pure function of ``(seed, epoch, index)``
instead:

- :class:`SeededSampler` (mmengine's ``DefaultSampler`` with the same order)
  yields :class:`SeededIndex` pairs of a dataset index and its seed
  :func:`sample_seed`;
- :class:`SeededDatasetMixin`, a base of every OccDepth dataset, runs
  ``dataset[SeededIndex(...)]`` (loading, pipeline and mmengine's refetch of
  a sample the pipeline drops) with numpy's, Python's and torch's global CPU
  RNGs seeded by it, and restores their states afterwards, so that with
  ``num_workers=0`` the main process' streams are left untouched.

The transforms keep their code and distributions; only where their random
numbers start changes. Plain integer indices (validation, testing, direct
use) run unseeded, as before.
"""
import operator
import random
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple, Optional, Union

import numpy as np
import torch
from mmdet3d.registry import DATA_SAMPLERS
from mmengine.dataset import DefaultSampler

# Stream ids, the word after the run's seed in the derived seed sequences:
# they keep the per-sample seeds of the data pipeline apart from the
# per-iteration seeds of the training loop (``engine/randomness.py``),
# whatever the epoch, index and iteration.
DATA_STREAM = 0
TRAIN_ITER_STREAM = 1


class SeededIndex(NamedTuple):
    """A dataset index with the seed its sample is loaded under."""
    index: int
    seed: int


def derive_seed(seed: int, stream: int, *keys: int) -> int:
    """A 32-bit seed from a run seed, a stream id and integer keys.

    Uses numpy's ``SeedSequence`` hashing, so nearby inputs give unrelated
    seeds.

    Args:
        seed: The run's seed (``>= 0``).
        stream: :data:`DATA_STREAM` or :data:`TRAIN_ITER_STREAM`.
        *keys: Non-negative integers (epoch, index, iteration).

    Returns:
        int: A seed in ``[0, 2**32)``.
    """
    words = [operator.index(seed), stream, *map(operator.index, keys)]
    if any(w < 0 for w in words):
        raise ValueError(f'seeds are derived from non-negative integers, '
                         f'got seed={seed}, keys={keys}')
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of dataset sample ``index`` in ``epoch`` of a run seeded ``seed``.

    Args:
        seed: The sampler's seed.
        epoch: The epoch (mmengine's ``DistSamplerSeedHook`` sets it).
        index: The sample's index in the dataset.

    Returns:
        int: A seed in ``[0, 2**32)``.
    """
    return derive_seed(seed, DATA_STREAM, epoch, index)


@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Run a block with numpy's, Python's and torch's CPU RNGs seeded.

    The three global states are saved before and restored after the block,
    also when it raises. CUDA generators are not touched (the data pipeline
    runs on the CPU).

    Args:
        seed: Seed in ``[0, 2**32)``.
    """
    np_state = np.random.get_state()
    py_state = random.getstate()
    torch_state = torch.random.get_rng_state()
    np.random.seed(seed)
    random.seed(seed)
    torch.random.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        torch.random.set_rng_state(torch_state)


class SeededDatasetMixin:
    """Makes ``dataset[SeededIndex(index, seed)]`` deterministic.

    Put it before ``BaseDataset`` in the bases of a dataset class. A
    :class:`SeededIndex` loads sample ``index`` under
    :func:`seeded_global_rng`; an ``int`` index behaves as in the base
    class.
    """

    def __getitem__(self, idx: Union[int, SeededIndex]) -> Any:
        if isinstance(idx, SeededIndex):
            with seeded_global_rng(idx.seed):
                return super().__getitem__(idx.index)
        return super().__getitem__(idx)


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` that also hands out per-sample seeds.

    The indices and their order are those of ``DefaultSampler`` (shuffled by
    ``seed + epoch``, split across ranks, padded when ``round_up``); each
    comes as ``SeededIndex(index, sample_seed(seed, epoch, index))``, which
    a :class:`SeededDatasetMixin` dataset loads under that seed. The
    augmentation of a sample thus depends only on the seed, the epoch and
    the index: not on the number of workers, their persistence, the order
    in which they are asked or the run having been resumed. mmengine's
    ``DistSamplerSeedHook`` sets the epoch; ``ResumableRandomnessHook``
    keeps the seed of the run being resumed.

    Args:
        dataset: A dataset with :class:`SeededDatasetMixin` among its bases.
        shuffle: Whether to shuffle the indices.
        seed: Seed of the order and of the samples; ``None`` draws one
            (shared by all ranks). The Runner passes its own seed.
        round_up: Whether to pad the indices to a multiple of the world
            size.
    """

    def __init__(self,
                 dataset: Any,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True) -> None:
        if not isinstance(dataset, SeededDatasetMixin):
            raise TypeError(
                f'SeededSampler needs a dataset that takes SeededIndex '
                f'indices (SeededDatasetMixin among its bases); '
                f'{type(dataset).__name__} does not have it')
        super().__init__(
            dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        if operator.index(self.seed) < 0:
            raise ValueError(f'SeededSampler needs a seed >= 0, got '
                             f'{self.seed}')

    def __iter__(self) -> Iterator[SeededIndex]:
        for index in super().__iter__():
            yield SeededIndex(index, sample_seed(self.seed, self.epoch, index))
