"""KITTI calib -> cam2img / lidar2cam, and projections checked by hand."""
import numpy as np
import torch

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration
from projects.OccDepth.occdepth.models.utils.geometry import (build_lidar2img,
                                                              project_points)

# calib.txt of KITTI odometry sequence 00 (baseline 0.533 m).
KITTI_00 = dict(
    P0=np.array([[718.856, 0, 607.1928, 0], [0, 718.856, 185.2157, 0],
                 [0, 0, 1, 0]]),
    P2=np.array([[718.856, 0, 607.1928, 45.38225],
                 [0, 718.856, 185.2157, -0.1130887], [0, 0, 1, 0.003779761]]),
    P3=np.array([[718.856, 0, 607.1928, -337.2877],
                 [0, 718.856, 185.2157, 2.369057], [0, 0, 1, 0.004915215]]),
    Tr=np.array([[
        4.276802385584e-04, -9.999672484946e-01, -8.084491683471e-03,
        -1.198459927713e-02
    ],
                 [
                     -7.210626507497e-03, 8.081198471645e-03,
                     -9.999413164504e-01, -5.403984729748e-02
                 ],
                 [
                     9.999738645903e-01, 4.859485810390e-04,
                     -7.206933692422e-03, -2.921968648686e-01
                 ]]))


def _project(cam2img, lidar2cam, point, ida_mat=None):
    lidar2img = build_lidar2img(
        torch.from_numpy(cam2img), torch.from_numpy(lidar2cam),
        None if ida_mat is None else torch.from_numpy(ida_mat))
    uv, depth = project_points(
        torch.tensor([point], dtype=torch.float64), lidar2img[None])
    return uv[0, :, 0].numpy(), depth[0, :, 0].numpy()


def test_projection_clean_calib_by_hand(tmp_path):
    # Velodyne (x fwd, y left, z up) -> camera (x right, y down, z fwd),
    # f = 700, c = (600, 180), left tx = 45 px m, baseline 0.54 m.
    calib = dict(
        P2=np.array([[700.0, 0, 600, 45], [0, 700, 180, 0], [0, 0, 1, 0]]),
        P3=np.array([[700.0, 0, 600, 45 - 700 * 0.54], [0, 700, 180, 0],
                     [0, 0, 1, 0]]),
        Tr=np.array([[0.0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0]]))
    path = str(tmp_path / 'calib.txt')
    io.write_calib(path, calib)
    cam2img, lidar2cam = stereo_calibration(io.read_calib(path))
    # Point (10, 1, -0.5) is (-1, 0.5, 10) in camera 0:
    # left  u = (-700 + 6000 + 45) / 10 = 534.5, v = (350 + 1800) / 10
    # right u = (-700 + 6000 - 333) / 10 = 496.7 (disparity 700*0.54/10)
    uv, depth = _project(cam2img, lidar2cam, [10.0, 1.0, -0.5])
    np.testing.assert_allclose(uv, [[534.5, 215.0], [496.7, 215.0]], atol=1e-9)
    np.testing.assert_allclose(depth, [10.0, 10.0], atol=1e-12)
    np.testing.assert_allclose(lidar2cam[0, :3, 3], [45 / 700, 0, 0])
    np.testing.assert_allclose(lidar2cam[1, :3, 3], [-333 / 700, 0, 0])


def test_projection_real_kitti_calib(tmp_path):
    path = str(tmp_path / 'calib.txt')
    io.write_calib(path, KITTI_00)
    calib = io.read_calib(path)
    cam2img, lidar2cam = stereo_calibration(calib)
    assert cam2img.shape == (2, 3, 3) and lidar2cam.shape == (2, 4, 4)
    assert cam2img.dtype == np.float64 and lidar2cam.dtype == np.float64
    np.testing.assert_array_equal(lidar2cam[:, 3], [[0, 0, 0, 1]] * 2)
    baseline = np.linalg.norm(lidar2cam[0, :3, 3] - lidar2cam[1, :3, 3])
    np.testing.assert_allclose(baseline, 0.533, atol=1e-3)

    point = [12.3, -2.1, 0.4]
    uv, depth = _project(cam2img, lidar2cam, point)
    velo2cam = np.vstack([KITTI_00['Tr'], [0, 0, 0, 1]])
    for view, key in enumerate(('P2', 'P3')):
        hom = KITTI_00[key] @ velo2cam @ np.array(point + [1.0])
        np.testing.assert_allclose(uv[view], hom[:2] / hom[2], atol=1e-9)
        np.testing.assert_allclose(depth[view], hom[2], atol=1e-9)
    # Rectified stereo: same row, the right view sees the point further
    # left by the disparity f * b / z (to the P_v translation terms).
    assert abs(uv[0, 1] - uv[1, 1]) < 0.5
    np.testing.assert_allclose(
        uv[0, 0] - uv[1, 0], 718.856 * 0.533 / depth[0], rtol=2e-3)
