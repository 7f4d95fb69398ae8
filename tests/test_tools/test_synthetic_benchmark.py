"""The synthetic stereo benchmark (``--scene benchmark`` of the generator):
valid files read back through the dataset, depth and ``.invalid`` that agree
with a scene checked by hand, weak layout priors, determinism."""
import hashlib
import os
import os.path as osp

import numpy as np
import pytest
import torch

import projects.OccDepth.occdepth  # noqa: F401
from projects.OccDepth.occdepth.datasets.kitti_calibration import kitti_calib
from projects.OccDepth.occdepth.datasets.semantickitti import (
    SemanticKittiSSCDataset, stereo_calibration)
from projects.OccDepth.occdepth.models.utils.geometry import build_lidar2img
from tools.dataset_converters import synthetic_benchmark as sb
from tools.dataset_converters import synthetic_streets as streets
from tools.dataset_converters.synthetic_voxels import Grid

IMG_HW = (32, 96)
GRID = (32, 32, 16)
VOXEL = 0.6
ORIGIN = (0.0, -9.6, -4.8)

# the small benchmark every test here reads
BENCH = dict(
    sequences=('00', ),
    frames=3,
    seed=0,
    image_size=IMG_HW,
    grid_size=GRID,
    voxel_size=VOXEL)


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('bench'))
    sb.generate_benchmark(root, **BENCH)
    return root


def test_reads_back_through_the_dataset(bench):
    assert sb.benchmark_origin(GRID, VOXEL) == ORIGIN
    dataset = SemanticKittiSSCDataset(
        data_root=bench,
        depth_root=osp.join(bench, 'depth'),
        split=None,
        sequences=['00'],
        grid_size=GRID,
        voxel_size=VOXEL,
        voxel_origin=ORIGIN,
        test_mode=True,
        pipeline=[
            dict(type='LoadStereoImages', crop_size=IMG_HW),
            dict(type='LoadSSCLabels'),
            dict(type='LoadStereoDepth', crop_size=IMG_HW),
            dict(type='PackSSCInputs'),
        ])
    assert len(dataset) == 3
    for index in range(3):
        sample = dataset[index]
        imgs = sample['inputs']['imgs']
        assert tuple(imgs.shape) == (2, 3, *IMG_HW)
        gt = torch.as_tensor(sample['data_samples'].gt_occ)
        assert tuple(gt.shape) == GRID
        valid = gt != 255
        # the camera sees free space and surfaces, and not everything
        assert 0 < valid.sum() < gt.numel()
        assert (gt[valid] == 0).any() and (gt[valid] > 0).any()
        depth = torch.as_tensor(sample['data_samples'].gt_depth)
        assert tuple(depth.shape) == IMG_HW
        assert 0 < depth.max() < GRID[0] * VOXEL + 1.0


def test_same_seed_same_bytes_and_frames_differ(bench, tmp_path):
    again = str(tmp_path / 'again')
    sb.generate_benchmark(again, **BENCH)

    def digests(root):
        out = {}
        for folder, _, files in os.walk(root):
            for name in files:
                path = osp.join(folder, name)
                with open(path, 'rb') as f:
                    out[osp.relpath(path, root)] = hashlib.sha256(
                        f.read()).hexdigest()
        return out

    first, second = digests(bench), digests(again)
    # calib, poses, times; per frame 2 images, 4 voxel files, 1 depth map
    assert first == second and len(first) == 3 + 3 * 7
    labels = [
        first[f'sequences/00/voxels/{frame}.label']
        for frame in ('000000', '000005', '000010')
    ]
    assert len(set(labels)) == 3


def test_layout_priors_are_weak():
    """Ground height, tilt and object count vary from frame to frame, and
    objects float above the ground."""
    grounds, counts, floating = [], [], 0
    for index in range(20):
        rng = np.random.default_rng([0, 0, index])
        ground = sb.make_ground(rng)
        prims = sb.make_objects(rng, ground, (19.2, 19.2))
        grounds.append((ground.height, ground.slope_x, ground.slope_y))
        counts.append(len({p.instance for p in prims}))
        for prim in prims:
            if prim.shape == 'box':
                cx = (prim.params[0] + prim.params[1]) / 2
                cy = (prim.params[2] + prim.params[3]) / 2
                floating += prim.params[4] > ground.z(cx, cy) + 0.5
    grounds = np.array(grounds)
    assert np.ptp(grounds[:, 0]) > 0.5  # camera height varies by > 0.5 m
    assert np.ptp(grounds[:, 1]) > 0.05  # pitch varies by > 3 degrees
    assert min(counts) >= 10 and max(counts) > min(counts)
    assert floating > 0


def _wall_frame():
    """A building wall from x = 6.0 m to 7.2 m across the grid, 6 m high,
    on a flat ground 1.65 m under the lidar."""
    grid = Grid(GRID, VOXEL, ORIGIN)
    wall = streets.Primitive('box', streets.BUILDING, 1,
                             (6.0, 7.2, -9.6, 9.6, -2.0, 4.0))
    ground = sb.GroundPlane(-1.65, 0.0, 0.0)
    calib = kitti_calib('00', IMG_HW)
    frame = sb.make_benchmark_frame([wall], ground, grid, calib, IMG_HW,
                                    np.random.default_rng(0), (0, 0, 0))
    return frame, calib


def test_depth_and_observation_of_a_wall_by_hand():
    frame, calib = _wall_frame()
    cam2img, lidar2cam = stereo_calibration(calib)
    # The left camera sits 0.29 m ahead of the lidar (KITTI's Tr and the
    # colour camera's offset), looking along x: at the principal point the
    # wall's face x = 6.0 is 6.0 - 0.29 = 5.71 m deep, up to the small
    # rotation of Tr.
    centre = np.linalg.inv(lidar2cam[0])[:3, 3]
    assert centre[0] == pytest.approx(0.292, abs=1e-3)
    u, v = (int(round(c)) for c in cam2img[0][:2, 2])
    lidar2img = build_lidar2img(
        torch.from_numpy(cam2img), torch.from_numpy(lidar2cam)).numpy()[0]
    ray = np.linalg.inv(lidar2img)[:3, :3] @ np.array([u, v, 1.0])
    # ray is metres per unit camera depth: the face is at depth t where
    # centre_x + t * ray_x = 6.0
    expected = (6.0 - centre[0]) / ray[0]
    assert expected == pytest.approx(5.71, abs=0.05)
    assert frame.depth[v, u] == pytest.approx(expected, abs=1e-3)
    assert frame.labels.shape == GRID
    # voxel (i, j, k) has its centre at ORIGIN + (idx + 0.5) * 0.6
    j, k = 16, 8  # y = 0.3, z = 0.3: in front of the camera
    assert frame.labels[10, j, k] == streets.BUILDING  # x 6.0 .. 6.6
    assert not frame.invalid[10, j, k]  # its face is seen
    assert frame.scan[10, j, k]
    assert frame.labels[4, j, k] == 0 and not frame.invalid[4, j, k]
    assert frame.labels[11, j, k] == streets.BUILDING
    assert frame.invalid[11, j, k]  # inside the wall
    assert frame.labels[14, j, k] == 0 and frame.invalid[14, j, k]  # behind
    # beside the camera, outside its image: never observed
    assert frame.labels[0, 31, k] == 0 and frame.invalid[0, 31, k]
    # the ground 1.65 m under the lidar: the top layer filled has its centre
    # at -2.1 m (k = 4); at x = 3.3 m it and the free voxel above it (-1.5
    # m) lie 26 degrees under the camera axis, below the image (half a
    # vertical field of view of atan(15.6 / 62.2) = 14 degrees): unseen
    assert frame.labels[5, j, 4] in sb.GROUND_CLASSES
    assert frame.labels[5, j, 5] == 0
    assert frame.invalid[5, j, 4] and frame.invalid[5, j, 5]
