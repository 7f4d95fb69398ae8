"""OADepthHead(flip_convention=...): where a flipped sample reads its depth.

The images and Stereo-SFA flip ``u -> W - 1 - u``; the authors' OAD flips
``u -> W - u`` (``img_transform`` in their
``occdepth/data/semantic_kitti/kitti_dataset.py``), one full-resolution
pixel to the right. ``flip_convention='released'`` reproduces that offset.
"""
import numpy as np
import pytest
import torch

from projects.OccDepth.occdepth.models.depth_heads import OADepthHead
from projects.OccDepth.occdepth.models.utils import geometry

IMG_HW = (16, 32)  # stride 8 -> 2 x 4 depth map
FEAT_HW = (2, 4)


def _head(**kwargs):
    # one voxel centred at the origin of the voxel frame, 4 UD bins of 1 m
    return OADepthHead(
        in_channels=4,
        mid_channels=8,
        grid_size=(1, 1, 1),
        voxel_size=1.0,
        voxel_origin=(-0.5, -0.5, -0.5),
        depth_bound=(1.0, 5.0, 1.0),
        discretization='UD',
        **kwargs)


def _camera(u: float, v: float, depth: float = 3.0):
    """(K, lidar2cam) seeing the voxel-frame origin at pixel (u, v)."""
    k = torch.tensor([[8.0, 0, u], [0, 8.0, v], [0, 0, 1]],
                     dtype=torch.float64)
    lidar2cam = torch.tensor(
        [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, depth], [0, 0, 0, 1]],
        dtype=torch.float64)
    return k, lidar2cam


def _batch(u: float, v: float):
    """Sample 0 flipped (u' = W - 1 - u), sample 1 not: lidar2img, ida."""
    k, lidar2cam = _camera(u, v)
    flip = torch.from_numpy(geometry.horizontal_flip_matrix(IMG_HW[1]))
    ida = torch.stack([flip, torch.eye(3, dtype=torch.float64)])
    lidar2img = torch.stack(
        [geometry.build_lidar2img(k, lidar2cam, mat) for mat in ida])[:, None]
    return lidar2img, ida


# value = column + 10 * row of the 2 x 4 map, in every bin: a sample reads
# its feature-pixel position
COLUMN_RAMP = (torch.arange(4.0)[None, :] +
               10 * torch.arange(2.0)[:, None]).expand(4, 2, 4)


@pytest.mark.parametrize(
    'convention, flipped_value',
    [
        # flipped pixel u' = 31 - 18.5 = 12.5, v = 3.5:
        # column (12.5 + 0.5) / 8 - 0.5 = 1.125, row (3.5 + 0.5) / 8 - 0.5 = 0
        ('pixel_center', 1.125),
        # the authors' u' = 32 - 18.5 = 13.5: column 14 / 8 - 0.5 = 1.25
        ('released', 1.25),
    ])
def test_flipped_sample_reads_one_pixel_further_right(convention,
                                                      flipped_value):
    head = _head(flip_convention=convention)
    lidar2img, ida = _batch(18.5, 3.5)
    weight = head.sample_voxels(
        COLUMN_RAMP.expand(2, 1, 4, 2, 4), lidar2img, IMG_HW, ida)
    # the unflipped sample: u = 18.5 -> column 19 / 8 - 0.5 = 1.875
    assert weight.flatten().tolist() == pytest.approx([flipped_value, 1.875],
                                                      abs=1e-6)


def test_conventions_differ_by_exactly_one_pixel_on_flipped_samples():
    lidar2img, ida = _batch(18.5, 3.5)
    for grid_convention, one_pixel in (('aligned', 2 / 32), ('released',
                                                             2 / 31)):
        grids = {
            flip:
            _head(grid_convention=grid_convention,
                  flip_convention=flip).sampling_grid(lidar2img, IMG_HW,
                                                      FEAT_HW, ida)
            for flip in ('pixel_center', 'released')
        }
        diff = (grids['released'] - grids['pixel_center'])[:, 0, 0]
        # sample 0 (flipped): one full-resolution pixel in x only, in
        # grid_sample units (2 / (s * w) aligned, 2 / (W - 1) released)
        np.testing.assert_allclose(
            diff[0].numpy(), [one_pixel, 0, 0], rtol=0, atol=1e-12)
        # sample 1 (not flipped): the same grid
        assert diff[1].abs().max().item() == 0
    # without ida_mat (no augmentation) both conventions agree
    k, lidar2cam = _camera(18.5, 3.5)
    plain = geometry.build_lidar2img(k, lidar2cam)[None, None]
    assert torch.equal(
        _head(flip_convention='released').sampling_grid(
            plain, IMG_HW, FEAT_HW),
        _head().sampling_grid(plain, IMG_HW, FEAT_HW))


def test_flip_convention_is_checked():
    assert _head().flip_convention == 'pixel_center'
    with pytest.raises(ValueError, match='flip_convention'):
        _head(flip_convention='W')
