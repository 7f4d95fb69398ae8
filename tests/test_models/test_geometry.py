"""Camera geometry: values computed by hand."""
import math

import numpy as np
import pytest
import torch

from projects.OccDepth.occdepth.models.utils import geometry


def test_voxel_centers_c_order():
    centers = geometry.voxel_centers((2, 3, 4), 0.5, (1.0, -1.0, 0.0))
    assert centers.shape == (24, 3)
    # voxel (i, j, k) = (1, 2, 3) sits at row 1*12 + 2*4 + 3 = 23
    assert torch.allclose(centers[23], torch.tensor([1.75, 0.25, 1.75]))
    assert torch.allclose(centers[0], torch.tensor([1.25, -0.75, 0.25]))
    # row 5 = (0, 1, 1)
    assert torch.allclose(centers[5], torch.tensor([1.25, -0.25, 0.75]))


def test_to_4x4_pads_and_rejects():
    k = torch.tensor([[2.0, 0, 3], [0, 4.0, 5], [0, 0, 1]])
    k4 = geometry.to_4x4(k)
    assert k4[3, 3] == 1 and k4[0, 2] == 3 and k4[2, 3] == 0
    with pytest.raises(ValueError, match='3x3, 3x4 or 4x4'):
        geometry.to_4x4(torch.zeros(2, 2))


def _kitti_like():
    fx, cx, cy = 700.0, 600.0, 180.0
    k = torch.tensor([[fx, 0, cx], [0, fx, cy], [0, 0, 1]],
                     dtype=torch.float64)
    # velodyne (x fwd, y left, z up) -> camera (x right, y down, z fwd)
    lidar2cam = torch.tensor(
        [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
        dtype=torch.float64)
    right = lidar2cam.clone()
    right[0, 3] = -0.5  # right camera 0.5 m to the right of the left one
    return k, torch.stack([lidar2cam, right])


def test_project_points_by_hand():
    k, lidar2cam = _kitti_like()
    lidar2img = geometry.build_lidar2img(k.expand(2, 3, 3), lidar2cam)
    # point 10 m ahead, 1 m left, 0.5 m up
    pts = torch.tensor([[10.0, 1.0, 0.5]])
    uv, depth = geometry.project_points(pts, lidar2img[None])
    assert uv.shape == (1, 2, 1, 2)
    # left: u = 700 * (-1) / 10 + 600 = 530, v = 700 * (-0.5) / 10 + 180
    assert uv[0, 0, 0].tolist() == pytest.approx([530.0, 145.0])
    # right: x_cam = -1 - 0.5 -> u = 700 * -1.5 / 10 + 600 = 495 (disparity
    # f * b / z = 35 px)
    assert uv[0, 1, 0].tolist() == pytest.approx([495.0, 145.0])
    assert depth[0, :, 0].tolist() == pytest.approx([10.0, 10.0])


def test_flip_matrix_undoes_image_flip():
    k, lidar2cam = _kitti_like()
    width = 1220
    flip = torch.as_tensor(geometry.horizontal_flip_matrix(width))
    pts = torch.tensor([[10.0, 1.0, 0.5], [20.0, -3.0, 1.0]])
    plain = geometry.build_lidar2img(k, lidar2cam[0])
    flipped = geometry.build_lidar2img(k, lidar2cam[0], flip)
    uv0, _ = geometry.project_points(pts, plain[None, None])
    uv1, _ = geometry.project_points(pts, flipped[None, None])
    assert torch.allclose(uv1[..., 0], width - 1 - uv0[..., 0])
    assert torch.allclose(uv1[..., 1], uv0[..., 1])
    # an integer pixel column u of the original is column W-1-u after
    # np.fliplr
    img = np.arange(width)[None]
    u = int(torch.round(uv0[0, 0, 0, 0]))
    assert np.fliplr(img)[0, int(torch.round(uv1[0, 0, 0, 0]))] == img[0, u]


def test_round_half_to_even_and_in_image():
    uv = torch.tensor([[0.5, 1.5], [2.5, -0.5], [3.49, 3.51]],
                      dtype=torch.float64)
    assert geometry.round_pixels(uv).tolist() == [[0, 2], [2, 0], [3, 4]]
    pix = torch.tensor([[0, 0], [9, 4], [10, 0], [0, 5], [-1, 2], [3, 3]])
    depth = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, -1.0])
    assert geometry.in_image(pix, depth, (5, 10)).tolist() == [
        True, True, False, False, False, False
    ]


def test_frustum_cells():
    pix = torch.tensor([[0, 0], [99, 0], [0, 49], [99, 49], [50, 25], [24,
                                                                       12]])
    fov = torch.tensor([True, True, True, True, True, False])
    cells = geometry.frustum_cells(pix, fov, (50, 100), 4)
    # cells are 25 px wide and 12.5 px high: (row, col) -> row * 4 + col
    assert cells.tolist() == [0, 3, 12, 15, 2 * 4 + 2, -1]


@pytest.mark.parametrize('index,depth', [(10, 2.52), (40, 9.81), (100, 50.10),
                                         (104, 54.0)])
def test_lid_bins_match_reference(index, depth):
    d = geometry.bin_to_depth(
        torch.tensor(float(index)), 'LID', 2.0, 54.0, 104)
    assert float(d) == pytest.approx(depth, abs=5e-3)
    back = geometry.depth_to_bin(d, 'LID', 2.0, 54.0, 104)
    assert float(back) == pytest.approx(index, abs=1e-4)


def test_ud_and_sid_bins():
    d = torch.tensor([2.0, 2.49, 2.5, 53.99])
    ud = geometry.depth_to_bin(d, 'UD', 2.0, 54.0, 104)
    assert torch.floor(ud).tolist() == [0, 0, 1, 103]
    sid = geometry.depth_to_bin(
        torch.tensor([2.0, 54.0]), 'SID', 2.0, 54.0, 104)
    assert sid.tolist() == pytest.approx([0.0, 104.0])
    # SID bin 52 is the geometric middle of (1 + d)
    mid = geometry.bin_to_depth(torch.tensor(52.0), 'SID', 2.0, 54.0, 104)
    assert float(mid) == pytest.approx(math.sqrt(3.0 * 55.0) - 1, rel=1e-6)
    with pytest.raises(ValueError, match='discretization'):
        geometry.depth_to_bin(d, 'XYZ', 2.0, 54.0, 104)


def test_voxel_centres_are_the_authors_float32_values():
    # the authors' vox2world: float32 origin, float64 sum, float32 result
    centers = geometry.voxel_centers((1, 200, 1), 0.4, (0.0, -25.6, -2.0))
    y = np.float32(-25.6).item() + 0.4 * np.arange(200) + 0.4 * 0.5
    np.testing.assert_array_equal(centers[:, 1].numpy(), y.astype(np.float32))
    assert centers.dtype == torch.float32


def test_voxel_centre_lands_on_the_authors_pixel():
    size, grid = 0.4, (128, 128, 16)
    origin = (0.0, -25.6, -2.0)
    # Set-up: find a voxel whose centre computed in float32 arithmetic (the
    # previous implementation) differs from the float64-computed one ...
    j = np.arange(grid[1], dtype=np.float32)
    y32 = np.float32(origin[1]) + (j + np.float32(0.5)) * np.float32(size)
    y64 = (np.float32(origin[1]).item() + size * j.astype(np.float64) +
           size * 0.5).astype(np.float32)
    jj = int(np.flatnonzero(y32 != y64)[0])
    i = 10  # x = 4.2 m in front of the camera
    x = float(np.float32(size * i + size * 0.5))
    # ... and put a pixel boundary (u = 600.5) between their projections:
    # u = fx * (-y) / x + cx for a camera looking along the voxel x axis.
    fx = 700.0
    mid = (float(y32[jj]) + float(y64[jj])) / 2
    cx = 600.5 + fx * mid / x
    u_authors = fx * -float(y64[jj]) / x + cx
    u_float32 = fx * -float(y32[jj]) / x + cx
    assert round(u_authors) != round(u_float32)
    k = torch.tensor([[fx, 0, cx], [0, fx, 180.0], [0, 0, 1]],
                     dtype=torch.float64)
    lidar2cam = torch.tensor(
        [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
        dtype=torch.float64)
    centers = geometry.voxel_centers(grid, size, origin)
    row = i * grid[1] * grid[2] + jj * grid[2]
    uv, _ = geometry.project_points(
        centers[row:row + 1],
        geometry.build_lidar2img(k, lidar2cam)[None, None])
    assert geometry.round_pixels(uv)[0, 0, 0, 0].item() == round(u_authors)
