"""LiDAR depth maps: points land on hand-computed pixels, nearest wins."""
import os

import numpy as np
import pytest

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.lidar_depth import (
    create_lidar_depth, read_velodyne)

# velodyne (x fwd, y left, z up) -> camera (x right, y down, z fwd)
TR = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]], dtype=float)
P2 = np.array([[100.0, 0, 80, 0], [0, 100.0, 24, 0], [0, 0, 1, 0]])
P3 = P2.copy()
P3[0, 3] = -100.0 * 0.5


def _sequence(root, points):
    seq = os.path.join(root, 'sequences', '00')
    os.makedirs(os.path.join(seq, 'voxels'))
    os.makedirs(os.path.join(seq, 'velodyne'))
    io.write_calib(os.path.join(seq, 'calib.txt'), dict(P2=P2, P3=P3, Tr=TR))
    open(os.path.join(seq, 'voxels', '000000.bin'), 'wb').close()
    scan = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    scan.astype(np.float32).tofile(os.path.join(seq, 'velodyne', '000000.bin'))


def test_points_land_on_hand_computed_pixels(tmp_path):
    points = np.array([
        [10.0, 1.0, 0.5],  # u = 100*(-1)/10 + 80 = 70, v = 100*(-0.5)/10+24
        [20.0, 2.0, 1.0],  # the same pixel, farther: hidden
        [5.0, -1.0, 0.0],  # u = 100 * 1 / 5 + 80 = 100, v = 24
        [-5.0, 0.0, 0.0],  # behind the camera
        [1.0, -5.0, 0.0],  # right of the image (u = 580)
    ])
    _sequence(str(tmp_path), points)
    out = str(tmp_path / 'lidar_depth')
    assert create_lidar_depth(str(tmp_path), out, ['00'], (48, 160)) == 1
    depth = io.read_depth_png(
        os.path.join(out, 'sequences', '00', 'depth', '000000.png'))
    assert depth.shape == (48, 160)
    assert depth[19, 70] == pytest.approx(10.0, abs=1 / 256)
    assert depth[24, 100] == pytest.approx(5.0, abs=1 / 256)
    assert np.count_nonzero(depth) == 2


def test_bad_scan_and_missing_scan(tmp_path):
    _sequence(str(tmp_path), np.zeros((1, 3)))
    scan = tmp_path / 'sequences' / '00' / 'velodyne' / '000000.bin'
    np.zeros(5, dtype=np.float32).tofile(scan)
    with pytest.raises(ValueError, match='multiple of 4'):
        read_velodyne(str(scan))
    os.remove(scan)
    with pytest.raises(FileNotFoundError, match='velodyne'):
        create_lidar_depth(
            str(tmp_path), str(tmp_path / 'o'), ['00'], (48, 160))
