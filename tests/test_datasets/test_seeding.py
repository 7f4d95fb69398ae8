"""Per-sample seeds of the training pipeline: SeededSampler and the mixin."""
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset, DefaultSampler
from torch.utils.data import DataLoader

from projects.OccDepth.occdepth.datasets import (NYUv2SSCDataset,
                                                 SeededDatasetMixin,
                                                 SeededIndex, SeededSampler,
                                                 SemanticKittiSSCDataset,
                                                 TartanAirSSCDataset)
from projects.OccDepth.occdepth.datasets.seeding import (derive_seed,
                                                         sample_seed,
                                                         seeded_global_rng)

JITTER = dict(
    type='StereoPhotoMetricDistortion',
    brightness=0.4,
    contrast=0.4,
    saturation=0.4,
    hue=0.1,
    blur_prob=0.5,
    grayscale_prob=0.5)


def _dataset(root, pipeline):
    # 3 labelled frames: 00/000000, 00/000005, 08/000010
    return SemanticKittiSSCDataset(
        data_root=root,
        sequences=['00', '08'],
        grid_size=(16, 16, 8),
        pipeline=pipeline)


def _augmenting(root):
    return _dataset(root, [
        dict(type='LoadStereoImages', crop_size=None), JITTER,
        dict(type='RandomStereoFlip', prob=0.5)
    ])


def _key(sample):
    """What the augmentation decided: both views and the flip."""
    return np.stack(sample['imgs']), sample['flip']


def _collate(batch):
    return [(s['sample_idx'], *_key(s)) for s in batch]


def _epochs(dataset, num_epochs, **loader_kwargs):
    """``{(epoch, index): (imgs, flip)}`` as a DataLoader delivers them."""
    sampler = SeededSampler(dataset, shuffle=True, seed=7)
    loader = DataLoader(
        dataset,
        batch_size=2,
        sampler=sampler,
        collate_fn=_collate,
        **loader_kwargs)
    out = {}
    for epoch in range(num_epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            for index, imgs, flip in batch:
                assert (epoch, index) not in out
                out[(epoch, index)] = (imgs, flip)
    return out


def test_derived_seeds():
    expected = np.random.SeedSequence([42, 0, 3, 7]).generate_state(1)[0]
    assert sample_seed(42, 3, 7) == int(expected)
    assert derive_seed(42, 1, 9) == int(
        np.random.SeedSequence([42, 1, 9]).generate_state(1)[0])
    seeds = {sample_seed(42, e, i) for e in range(4) for i in range(50)}
    assert len(seeds) == 200
    assert sample_seed(42, 0, 1) != sample_seed(43, 0, 1)
    with pytest.raises(ValueError, match='non-negative'):
        sample_seed(-1, 0, 0)


def test_seeded_global_rng_seeds_and_restores():
    np.random.seed(5)
    random.seed(5)
    torch.manual_seed(5)
    outside = (np.random.rand(), random.random(), torch.rand(1).item())
    np.random.seed(5)
    random.seed(5)
    torch.manual_seed(5)
    with seeded_global_rng(123):
        inside = (np.random.rand(), random.random(), torch.rand(1).item())
    gen = torch.Generator().manual_seed(123)
    assert inside == (np.random.RandomState(123).rand(),
                      random.Random(123).random(),
                      torch.rand(1, generator=gen).item())
    # the streams outside continue as if the block had not run
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == outside
    with pytest.raises(RuntimeError, match='boom'):
        with seeded_global_rng(9):
            raise RuntimeError('boom')


def test_seeded_index_runs_the_pipeline_under_its_seed(kitti_root):
    dataset = _dataset(kitti_root, [
        dict(type='LoadStereoImages', crop_size=None),
        dict(type='RandomStereoFlip', prob=0.5)
    ])
    plain = dataset[1]['imgs']
    flips = []
    for seed in range(8):
        sample = dataset[SeededIndex(1, seed)]
        # RandomStereoFlip's one draw, by hand: rand() < 0.5
        flip = bool(np.random.RandomState(seed).rand() < 0.5)
        assert sample['flip'] is flip
        assert sample['sample_idx'] == 1
        for got, img in zip(sample['imgs'], plain):
            np.testing.assert_array_equal(got, img[:, ::-1] if flip else img)
        flips.append(flip)
    assert True in flips and False in flips


def test_same_seed_same_sample_in_any_order(kitti_root):
    dataset = _augmenting(kitti_root)
    requests = [
        SeededIndex(i, sample_seed(3, e, i)) for e in range(2)
        for i in range(3)
    ]
    forward = [_key(dataset[r]) for r in requests]
    backward = [_key(dataset[r]) for r in reversed(requests)][::-1]
    for (a_imgs, a_flip), (b_imgs, b_flip) in zip(forward, backward):
        np.testing.assert_array_equal(a_imgs, b_imgs)
        assert a_flip == b_flip
    # the same index in another epoch is augmented differently
    for i in range(3):
        assert not np.array_equal(forward[i][0], forward[3 + i][0])


def test_augmentation_independent_of_workers(kitti_root):
    dataset = _augmenting(kitti_root)
    np_state = np.random.get_state()
    main = _epochs(dataset, 3, num_workers=0)
    # with num_workers=0 the main process' numpy stream is left untouched
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(np_state[1:], after[1:]))
    assert len(main) == 9
    for loader_kwargs in (dict(num_workers=1, persistent_workers=True),
                          dict(num_workers=2, persistent_workers=False)):
        other = _epochs(dataset, 3, **loader_kwargs)
        assert other.keys() == main.keys()
        for key, (imgs, flip) in main.items():
            np.testing.assert_array_equal(other[key][0], imgs)
            assert other[key][1] == flip
    # and a resumed run's fresh worker starting at epoch 2 agrees too
    sampler = SeededSampler(dataset, shuffle=True, seed=7)
    sampler.set_epoch(2)
    loader = DataLoader(
        dataset,
        batch_size=2,
        sampler=sampler,
        collate_fn=_collate,
        num_workers=1,
        persistent_workers=True)
    for index, imgs, flip in (s for batch in loader for s in batch):
        np.testing.assert_array_equal(imgs, main[(2, index)][0])
        assert flip == main[(2, index)][1]


def test_sampler_order_is_default_samplers(kitti_root):
    dataset = _augmenting(kitti_root)
    for shuffle in (True, False):
        ours = SeededSampler(dataset, shuffle=shuffle, seed=11)
        theirs = DefaultSampler(dataset, shuffle=shuffle, seed=11)
        for epoch in (0, 1, 5):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            pairs = list(ours)
            assert [p.index for p in pairs] == list(theirs)
            assert [p.seed for p in pairs
                    ] == [sample_seed(11, epoch, p.index) for p in pairs]
    assert len(ours) == 3


def test_sampler_rejects_datasets_without_the_mixin():

    class Plain(BaseDataset):

        def load_data_list(self):
            return [dict(a=1)]

    with pytest.raises(TypeError, match='Plain does not have it'):
        SeededSampler(Plain(), seed=0)


@pytest.mark.parametrize(
    'cls', [SemanticKittiSSCDataset, NYUv2SSCDataset, TartanAirSSCDataset])
def test_every_dataset_takes_seeded_indices(cls):
    assert cls.__mro__.index(SeededDatasetMixin) < cls.__mro__.index(
        BaseDataset)
