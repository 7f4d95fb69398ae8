"""Pieces of the dataset browser, checked against hand-computed pixels."""
import numpy as np
import torch

from projects.OccDepth.occdepth.datasets.label_maps import \
    SEMANTICKITTI_PALETTE
from projects.OccDepth.occdepth.models.utils.geometry import (
    build_lidar2img, horizontal_flip_matrix)
from projects.OccDepth.occdepth.visualization.browse import (colour_depth,
                                                             overlay_voxels,
                                                             unaugment)

CAR, ROAD = 1, 9
K = torch.tensor([[20.0, 0, 20], [0, 20.0, 15], [0, 0, 1]],
                 dtype=torch.float64)
# voxel frame = camera frame shifted 8.5 m back along z
LIDAR2CAM = torch.eye(4, dtype=torch.float64)
LIDAR2CAM[2, 3] = 8.5


def _grid():
    grid = np.zeros((3, 3, 3), np.uint8)
    # centre (1.5, 1.5, 1.5) -> camera (1.5, 1.5, 10) -> pixel (23, 18),
    # half-size 20 * 1 / (2 * 10) = 1 px: the 3 x 3 block around it
    grid[1, 1, 1] = CAR
    # right behind it (depth 11, centre pixel (23, 18) too)
    grid[1, 1, 2] = ROAD
    return grid


def test_overlay_projects_the_nearest_voxel():
    image = np.zeros((30, 40, 3), np.uint8)
    out = overlay_voxels(image, _grid(), build_lidar2img(K, LIDAR2CAM), 1.0,
                         (0, 0, 0), SEMANTICKITTI_PALETTE)
    car = np.rint(0.5 * np.array(SEMANTICKITTI_PALETTE[CAR]))
    np.testing.assert_array_equal(out[17:20, 22:25].reshape(-1, 3),
                                  np.tile(car, (9, 1)))
    # the road voxel behind (half-size 20 / 22 px, centre (22.7, 17.7))
    # covers the same 3 x 3 block: hidden everywhere by the car
    touched = np.any(out != 0, axis=-1)
    assert touched.sum() == 9 and touched[17:20, 22:25].all()


def test_overlay_follows_the_flip():
    image = np.zeros((30, 40, 3), np.uint8)
    ida = torch.as_tensor(horizontal_flip_matrix(40))
    out = overlay_voxels(image, _grid(), build_lidar2img(K, LIDAR2CAM, ida),
                         1.0, (0, 0, 0), SEMANTICKITTI_PALETTE)
    # u' = 39 - 23 = 16
    touched = np.any(out != 0, axis=-1)
    assert touched.sum() == 9 and touched[17:20, 15:18].all()


def test_colour_depth_and_unaugment():
    rgb = colour_depth(np.array([[0.0, 5.0], [10.0, 2.5]]))
    assert rgb[0, 0].tolist() == [0, 0, 0]  # no measurement
    assert rgb[1, 0].tolist() == [0, 0, 255]  # farthest: blue
    assert rgb[0, 1].tolist() == [128, 255, 128]
    assert rgb[1, 1].tolist() == [191, 128, 64]
    image = np.random.RandomState(0).randint(0, 255,
                                             (6, 9, 3)).astype(np.uint8)
    flipped = np.ascontiguousarray(image[:, ::-1])
    np.testing.assert_array_equal(
        unaugment(flipped, horizontal_flip_matrix(9)), image)
    assert unaugment(image, np.eye(3)) is image
