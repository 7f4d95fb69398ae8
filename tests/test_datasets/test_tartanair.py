"""SemanticTartanAir on a tiny TartanAir-format room rendered analytically.

The room, in the north-east-down world (x north, y east, z down, metres;
the camera at the origin):

- a wall, the plane ``x = 3.05`` (seg id 90 -> ``wall``), whose part with
  ``y < -1`` carries seg id 7, listed nowhere (-> ``objs``);
- a floor, the plane ``z = 1.25`` (seg id 139 -> ``floor``);
- a box ``x in [1.65, 2.25], y in [0.45, 1.05], z in [0.65, 1.25]`` standing
  on the floor (seg id 211 -> ``chair``).

Images are 80 x 60 with TartanAir's intrinsics scaled by 1/8
(``K = [[40, 0, 40], [0, 40, 30], [0, 0, 1]]``). Trajectory ``P000`` keeps
the camera level and looking north; ``P001`` pitches it 20 degrees down and
rolls it 8 degrees. Both have frames 000000-000005, so frame step 5 exports
000000 and 000005.

With yaw 0 the levelled voxel frame is the world frame with its axes
permuted, ``(x, y, z)_vox = (y, z, x)_world``, whatever the pitch and roll:
on the default grid (0.1 m from (-6, -3, 0)) the wall is the voxel layer
``k = 30``, the floor the layer ``j = 42`` and the box front face ``k = 16``.

The config test renders the same room at 40 x 30 (``K / 16``) and exports it
on a 16 x 16 x 16 grid of 0.4 m so that the model trains at CPU size.
"""
import copy
import json
import os
import shutil

import numpy as np
import pytest
import torch
from mmdet3d.registry import TRANSFORMS
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from projects.OccDepth.occdepth.datasets import label_maps
from projects.OccDepth.occdepth.datasets import tartanair as ta
from projects.OccDepth.occdepth.datasets.transforms import \
    tartanair_loading  # noqa: F401
from projects.OccDepth.occdepth.models.utils import geometry
from tools.dataset_converters import tartanair_labels as tl
from tools.dataset_converters import tartanair_raw as tr
from tools.dataset_converters import tartanair_ssc as ts

IMG_HW = (60, 80)
CAM_K = tr.TARTANAIR_CAM_K / 8
CAM_K[2, 2] = 1.0
WALL_X = 3.05
FLOOR_Z = 1.25
BOX = np.array([[1.65, 2.25], [0.45, 1.05], [0.65, 1.25]])
SEG_WALL, SEG_PATCH, SEG_FLOOR, SEG_BOX = 90, 7, 139, 211
WALL, FLOOR, CHAIR, OBJS = 3, 2, 5, 13
FRAMES = [f'{i:06d}' for i in range(6)]
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def quat_mul(a, b):
    """Hamilton product of quaternions (x, y, z, w)."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz
    ])


def euler_quat(roll=0.0, pitch=0.0, yaw=0.0):
    """Quaternion of ``Rz(yaw) Ry(pitch) Rx(roll)`` (degrees)."""
    r, p, y = np.deg2rad([roll, pitch, yaw]) / 2
    qx = np.array([np.sin(r), 0, 0, np.cos(r)])
    qy = np.array([0, np.sin(p), 0, np.cos(p)])
    qz = np.array([0, 0, np.sin(y), np.cos(y)])
    return quat_mul(qz, quat_mul(qy, qx))


def pose_line(position, quat):
    return np.concatenate([position, quat])


def right_pose_line(left_line):
    """The right camera: 0.25 m along the left body's y axis."""
    rot = tr.quaternion_to_matrix(left_line[3:])
    return pose_line(left_line[:3] + rot @ [0, tr.TARTANAIR_BASELINE, 0],
                     left_line[3:])


def render(line, hw=IMG_HW, cam_k=CAM_K):
    """Analytic z-depth and seg ids of the room seen from a pose line."""
    pose = tr.pose_to_matrix(line)
    v, u = np.mgrid[0:hw[0], 0:hw[1]].astype(np.float64)
    ray_cam = np.stack([(u - cam_k[0, 2]) / cam_k[0, 0],
                        (v - cam_k[1, 2]) / cam_k[1, 1],
                        np.ones_like(u)], -1)
    ray = ray_cam @ (pose[:3, :3] @ tr.BODY_TO_CAM.T).T
    origin = pose[:3, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        t_wall = np.where(ray[..., 0] > 0, (WALL_X - origin[0]) / ray[..., 0],
                          np.inf)
        t_floor = np.where(ray[..., 2] > 0,
                           (FLOOR_Z - origin[2]) / ray[..., 2], np.inf)
        lo = (BOX[:, 0] - origin) / ray
        hi = (BOX[:, 1] - origin) / ray
    t_in = np.minimum(lo, hi).max(-1)
    t_out = np.maximum(lo, hi).min(-1)
    t_box = np.where((t_in <= t_out) & (t_in > 0), t_in, np.inf)
    depth = np.minimum(np.minimum(t_wall, t_floor), t_box)
    seg = np.where(t_box <= depth, SEG_BOX,
                   np.where(t_floor <= depth, SEG_FLOOR, SEG_WALL))
    hit_y = origin[1] + t_wall * ray[..., 1]
    seg = np.where((seg == SEG_WALL) & (hit_y < -1.0), SEG_PATCH, seg)
    depth = np.where(np.isfinite(depth), depth, 1e4)
    return depth.astype(np.float32), seg.astype(np.uint8)


def seg_image(seg):
    colours = np.zeros((256, 3), dtype=np.uint8)
    colours[[SEG_WALL, SEG_PATCH, SEG_FLOOR, SEG_BOX]] = [[200, 200, 180],
                                                          [90, 90, 255],
                                                          [120, 80, 40],
                                                          [240, 140, 30]]
    return colours[seg]


TRAJECTORIES = {
    'P000': pose_line([0, 0, 0], euler_quat()),
    'P001': pose_line([0, 0, 0], euler_quat(roll=8, pitch=-20)),
}


def make_tartanair(root, hw=IMG_HW, cam_k=CAM_K):
    """Write the room in TartanAir's raw layout under ``root``."""
    for traj, left in TRAJECTORIES.items():
        base = os.path.join(root, 'office', 'Easy', traj)
        for sub in ('image_left', 'image_right', 'depth_left', 'seg_left'):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        right = right_pose_line(left)
        for name, line in (('pose_left.txt', left), ('pose_right.txt', right)):
            with open(os.path.join(base, name), 'w') as f:
                f.writelines(' '.join(f'{x:.12f}' for x in line) + '\n'
                             for _ in FRAMES)
        depth, seg = render(left, hw, cam_k)
        right_seg = render(right, hw, cam_k)[1]
        for frame in FRAMES:
            paths = ta.raw_frame_paths(base, frame)
            np.save(paths['depth'], depth)
            np.save(paths['seg'], seg)
            Image.fromarray(seg_image(seg)).save(paths['image_left'])
            Image.fromarray(seg_image(right_seg)).save(paths['image_right'])
    return root


@pytest.fixture(scope='module')
def raw_root(tmp_path_factory):
    return make_tartanair(str(tmp_path_factory.mktemp('tartanair')))


@pytest.fixture(scope='module')
def exported(raw_root, tmp_path_factory):
    """Labels of both trajectories on the default 120 x 48 x 120 grid."""
    out = str(tmp_path_factory.mktemp('tartanair_ssc'))
    written = ts.export_ssc_labels(
        raw_root, out, difficulties=['Easy'], cam_k=CAM_K)
    assert written == {'Easy/P000': 2, 'Easy/P001': 2}
    return out


def load_labels(out, traj, frame='000000', scale=1):
    return np.load(
        os.path.join(
            ta.label_dir(out, 'office', 'Easy', traj),
            f'{frame}_1_{scale}.npy'))


# (voxel index, label) on the level frame P000, worked out by hand:
LEVEL_CHECKS = {
    # centre (-0.45, -0.45, 3.05) is on the wall; pixel (34, 24) sees it
    'wall': ((55, 25, 30), WALL),
    # centre (-1.45, -0.45, 3.05): the wall patch y_world < -1 (id 7)
    'objs patch': ((45, 25, 30), OBJS),
    # centre (0.15, 1.25, 2.05) is on the floor (points of pixels (42, 54)
    # and (43, 54), depth 2.083); the box is further right
    'floor': ((61, 42, 20), FLOOR),
    # centre (0.75, 0.95, 1.65) on the box's front face
    'box': ((67, 39, 16), CHAIR),
    # centre (-0.45, -0.45, 1.55): pixel (28, 28), whose ray meets the wall
    # at depth 3.05 > 1.55
    'in front of the wall': ((55, 25, 15), 0),
    # centre at depth 4.05 behind the wall (3.05)
    'behind the wall': ((55, 25, 40), 255),
    # centre (0.15, 1.55, 2.05) is 0.3 m under the floor
    'under the floor': ((61, 45, 20), 255),
    # centre (0.75, 0.95, 2.55): pixel (52, 45) sees the box top at 1.73
    'behind the box': ((67, 39, 25), 255),
    # centre (-5.45, -0.45, 1.05): u = 40 - 40 * 5.19 < 0
    'left of the frustum': ((5, 25, 10), 255),
    # centre (-0.45, -1.55, 2.95): 27.7 deg up, v = 9, in front of the wall
    'high, in view': ((55, 14, 29), 0),
    # centre (0.15, 1.25, 1.25): 45 deg down, v = 70 >= 60
    'floor below the frustum': ((61, 42, 12), 255),
}


def test_pose_conventions():
    # the body (x forward, y right, z down) -> camera (x right, y down,
    # z forward)
    np.testing.assert_array_equal(tr.BODY_TO_CAM @ [1, 0, 0], [0, 0, 1])
    np.testing.assert_array_equal(tr.BODY_TO_CAM @ [0, 1, 0], [1, 0, 0])
    np.testing.assert_array_equal(tr.BODY_TO_CAM @ [0, 0, 1], [0, 1, 0])
    # a 90 deg yaw turns the body's x axis (north) to east
    rot = tr.quaternion_to_matrix(euler_quat(yaw=90))
    np.testing.assert_allclose(rot @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    # yaw removal keeps roll and pitch only
    full = tr.quaternion_to_matrix(euler_quat(roll=8, pitch=-20, yaw=35))
    level = tr.quaternion_to_matrix(euler_quat(roll=8, pitch=-20))
    np.testing.assert_allclose(tr.remove_yaw(full), level, atol=1e-12)
    # 20 deg nose-down: the camera's optical axis (0, 0, 1) points 20 deg
    # below the levelled forward axis, i.e. +y (down) in the voxel frame
    cam2vox = tr.camera_to_voxel_rotation(
        tr.pose_to_matrix(pose_line([5, 6, 7], euler_quat(pitch=-20, yaw=50))))
    s, c = np.sin(np.deg2rad(20)), np.cos(np.deg2rad(20))
    np.testing.assert_allclose(cam2vox @ [0, 0, 1], [0, s, c], atol=1e-12)
    np.testing.assert_allclose(cam2vox @ [1, 0, 0], [1, 0, 0], atol=1e-12)


def test_stereo_extrinsics_from_poses_match_the_baseline():
    for line in TRAJECTORIES.values():
        left = tr.pose_to_matrix(line)
        right = tr.pose_to_matrix(right_pose_line(line))
        from_poses = tr.stereo_lidar2cam(left, right)
        ideal = tr.stereo_lidar2cam(left)
        np.testing.assert_allclose(from_poses, ideal, atol=1e-9)
    level = tr.stereo_lidar2cam(tr.pose_to_matrix(TRAJECTORIES['P000']))
    np.testing.assert_allclose(level[0], np.eye(4), atol=1e-12)
    expected_right = np.eye(4)
    expected_right[0, 3] = -0.25
    np.testing.assert_allclose(level[1], expected_right, atol=1e-12)


def test_class_map_defaults_and_validation(tmp_path):
    lut = tl.seg_class_lut()
    assert lut[90] == WALL and lut[139] == FLOOR and lut[211] == CHAIR
    # ids the reference lists twice: its lookup keeps the last class
    assert lut[231] == label_maps.TARTANAIR_CLASSES.index('window')
    assert lut[144] == label_maps.TARTANAIR_CLASSES.index('furn')
    assert lut[7] == OBJS and lut[0] == OBJS
    assert len(label_maps.TARTANAIR_CLASSES) == 14

    path = tmp_path / 'map.json'
    path.write_text(json.dumps({'floor': [7], 'wall': [90]}))
    custom = tl.seg_class_lut(str(path))
    assert custom[7] == FLOOR and custom[90] == WALL and custom[139] == OBJS
    path.write_text(json.dumps({'floor': [7], 'wall': [7]}))
    with pytest.raises(ValueError, match='map.json.*seg id 7'):
        tl.seg_class_lut(str(path))
    path.write_text(json.dumps({'table': [3]}))
    with pytest.raises(ValueError, match="map.json.*unknown class 'table'"):
        tl.seg_class_lut(str(path))
    with pytest.raises(ValueError, match='0..255'):
        tl.seg_class_lut({'wall': [300]})
    with pytest.raises(FileNotFoundError, match='missing.json'):
        tl.seg_class_lut(str(tmp_path / 'missing.json'))


def test_grid_centers_are_float64_in_c_order():
    centers = tl.grid_centers((2, 1, 3), 0.1, (-6.0, -3.0, 0.0))
    assert centers.dtype == np.float64 and centers.shape == (6, 3)
    # rows i * Y * Z + j * Z + k; float32 would miss by ~1e-7
    np.testing.assert_allclose(
        centers[[0, 1, 3]],
        [[-5.95, -2.95, 0.05], [-5.95, -2.95, 0.15], [-5.85, -2.95, 0.05]],
        rtol=0,
        atol=1e-12)


def test_surface_majority_ties_go_to_the_smaller_class():
    points = np.array([[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [0.3, 0.3, 0.3],
                       [1.1, 0.1, 0.1], [1.2, 0.2, 0.2], [5.0, 0.0, 0.0],
                       [-0.1, 0.0, 0.0]])
    classes = np.array([3, 3, 5, 7, 2, 4, 4])
    labels = tl.surface_labels(points, classes, (2, 1, 1), 1.0,
                               (0.0, 0.0, 0.0), 14)
    # voxel 0: two wall points beat one chair point; voxel 1: a 7 / 2 tie;
    # points outside the grid are dropped
    assert labels.tolist() == [[[3]], [[2]]]


def test_max_depth_limits_surfaces_and_free_space():
    depth, seg = render(TRAJECTORIES['P000'])
    lidar2cam = tr.stereo_lidar2cam(tr.pose_to_matrix(TRAJECTORIES['P000']))
    labels = tl.ssc_labels_from_depth(
        depth,
        seg,
        lidar2cam[0],
        tl.seg_class_lut(),
        cam_k=CAM_K,
        max_depth=2.0)
    assert labels[55, 25, 30] == 255  # the wall is 3.05 m away
    assert labels[55, 25, 15] == 0  # free space at 1.55 m
    assert labels[55, 25, 21] == 255  # free space, but at 2.15 m
    assert labels[67, 39, 16] == CHAIR  # the box front at 1.65 m


def test_depth_loader_zeroes_invalid_values(tmp_path):
    depth = np.array([[1.5, np.inf, -1.0], [np.nan, 0.0, 30.0]],
                     dtype=np.float32)
    path = str(tmp_path / '000000_left_depth.npy')
    np.save(path, depth)
    loader = TRANSFORMS.build(dict(type='LoadTartanAirDepth', max_depth=20))
    out = loader(dict(depth_path=path, img_shape=(2, 3)))
    assert out['gt_depth'].dtype == np.float32
    assert out['gt_depth'].tolist() == [[1.5, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match='000000_left_depth.npy.*differs'):
        loader(dict(depth_path=path, img_shape=(3, 3)))
    with pytest.raises(FileNotFoundError, match='nothing.npy'):
        loader(dict(depth_path=str(tmp_path / 'nothing.npy')))


def test_bad_pose_file_names_file_and_line(tmp_path):
    path = tmp_path / 'pose_left.txt'
    path.write_text('0 0 0 0 0 0 1\n0 0 0 0 0 1\n')
    with pytest.raises(ValueError, match='pose_left.txt:2: expected 7'):
        tr.read_pose_lines(str(path))


def test_level_frame_labels_by_hand(exported):
    labels = load_labels(exported, 'P000')
    assert labels.dtype == np.uint8 and labels.shape == (120, 48, 120)
    for name, (index, expected) in LEVEL_CHECKS.items():
        assert labels[index] == expected, name
    # the whole wall layer in view is wall or objs, nothing behind it is
    # observed, and the classes present are exactly the room's
    assert set(np.unique(labels[:, :, 31:])) == {255}
    assert set(np.unique(labels)) == {0, FLOOR, WALL, CHAIR, OBJS, 255}
    assert np.load(
        os.path.join(
            ta.label_dir(exported, 'office', 'Easy', 'P000'),
            '000005_1_1.npy')).tolist() == labels.tolist()
    assert load_labels(exported, 'P000', scale=4).shape == (30, 12, 30)
    assert load_labels(exported, 'P000', scale=8).shape == (15, 6, 15)


def test_pitched_frame_sees_the_same_levelled_room(exported):
    labels = load_labels(exported, 'P001')
    same = ('wall', 'objs patch', 'floor', 'box', 'in front of the wall',
            'behind the wall', 'under the floor', 'behind the box')
    for name in same:
        index, expected = LEVEL_CHECKS[name]
        assert labels[index] == expected, name
    # looking 20 deg down: the high voxel leaves the view (47.7 deg above
    # the optical axis), the near floor enters it (25 deg below)
    assert labels[55, 14, 29] == 255
    assert labels[61, 42, 12] == FLOOR
    # the floor stays the single layer j = 42 and the wall the layer k = 30
    assert set(np.unique(labels[:, 43:])) == {255}
    assert set(np.unique(labels[:, :, 31:])) == {255}
    assert (labels[:, 42] == FLOOR).sum() > 100


def test_frame_meta(exported):
    path = os.path.join(
        ta.label_dir(exported, 'office', 'Easy', 'P001'), '000005.json')
    with open(path) as f:
        meta = json.load(f)
    np.testing.assert_allclose(meta['cam2img'], [CAM_K, CAM_K])
    expected = tr.stereo_lidar2cam(
        tr.pose_to_matrix(TRAJECTORIES['P001']),
        tr.pose_to_matrix(right_pose_line(TRAJECTORIES['P001'])))
    np.testing.assert_allclose(meta['lidar2cam'], expected, atol=1e-9)
    assert meta['grid_size'] == [120, 48, 120]
    assert meta['voxel_origin'] == [-6.0, -3.0, 0.0]
    class_map = os.path.join(exported, 'office', 'class_map.json')
    with open(class_map) as f:
        assert json.load(f)['floor'] == [139]


def build_pipeline():
    return [
        TRANSFORMS.build(t) for t in (
            dict(type='LoadStereoImages', crop_size=None),
            dict(type='LoadSSCLabels'),
            dict(type='LoadTartanAirDepth'),
            dict(type='PackSSCInputs'),
        )
    ]


def test_dataset_serves_pair_calibration_and_labels(raw_root, exported):
    dataset = ta.TartanAirSSCDataset(
        data_root=raw_root,
        label_root=exported,
        difficulties=['Easy'],
        trajectories=['P000', 'P001'],
        pipeline=build_pipeline())
    assert len(dataset) == 4
    assert dataset.metainfo['classes'][13] == 'objs'
    sample = dataset[3]
    meta = sample['data_samples'].metainfo
    assert meta['sequence'] == 'office_Easy_P001'
    assert meta['frame_id'] == '000005'
    traj_dir = os.path.join(raw_root, 'office', 'Easy', 'P001')
    paths = ta.raw_frame_paths(traj_dir, '000005')
    imgs = sample['inputs']['imgs']
    assert imgs.shape == (2, 3, *IMG_HW) and imgs.dtype == torch.uint8
    for view, key in enumerate(('image_left', 'image_right')):
        expected = np.asarray(Image.open(paths[key]).convert('RGB'))
        assert imgs[view].permute(1, 2, 0).numpy().tolist() == \
            expected.tolist()
    np.testing.assert_allclose(meta['cam2img'], [CAM_K, CAM_K])
    assert meta['lidar2cam'].shape == (2, 4, 4)
    data = sample['data_samples']
    assert data.gt_occ.numpy().tolist() == load_labels(exported, 'P001',
                                                       '000005').tolist()
    assert data.gt_occ_crp.shape == (15, 6, 15)
    np.testing.assert_array_equal(data.gt_depth.numpy(),
                                  np.load(paths['depth']))

    # a wall voxel centre lands on a wall pixel at the rendered depth, in
    # both views
    lidar2img = geometry.build_lidar2img(
        torch.as_tensor(meta['cam2img']), torch.as_tensor(meta['lidar2cam']))
    centre = geometry.voxel_centers((120, 48, 120), 0.1, (-6.0, -3.0, 0.0))
    centre = centre.view(120, 48, 120, 3)[55, 25, 30].double()[None]
    uv, depth = geometry.project_points(centre, lidar2img[None])
    pix = geometry.round_pixels(uv)[0, :, 0]
    left = TRAJECTORIES['P001']
    for view, line in enumerate((left, right_pose_line(left))):
        rendered_depth, rendered_seg = render(line)
        u, v = pix[view].tolist()
        assert 0 <= u < IMG_HW[1] and 0 <= v < IMG_HW[0]
        assert rendered_seg[v, u] == SEG_WALL
        assert abs(rendered_depth[v, u] - depth[0, view, 0].item()) < 0.05
    # the right view sees the wall point shifted left by f * b / z pixels
    disparity = uv[0, 0, 0, 0] - uv[0, 1, 0, 0]
    assert disparity.item() == pytest.approx(
        40 * 0.25 / depth[0, 1, 0].item(), rel=1e-9)


def test_dataset_split_and_errors(raw_root, exported, tmp_path):
    with pytest.raises(ValueError, match='no frames found'):
        ta.TartanAirSSCDataset(
            data_root=raw_root,
            label_root=exported,
            difficulties=['Easy'],
            split='val')
    with pytest.raises(ValueError, match='000000.json.*expects'):
        ta.TartanAirSSCDataset(
            data_root=raw_root,
            label_root=exported,
            difficulties=['Easy'],
            trajectories=['P000'],
            grid_size=(16, 16, 16))
    with pytest.raises(ValueError, match="split must be one of .*'tset'"):
        ta.TartanAirSSCDataset(
            data_root=raw_root, label_root=exported, split='tset')
    with pytest.raises(ValueError, match='num_views must be 1 .* got 3'):
        ta.TartanAirSSCDataset(
            data_root=raw_root,
            label_root=exported,
            trajectories=['P000'],
            num_views=3)
    copy_root = str(tmp_path / 'raw')
    shutil.copytree(raw_root, copy_root)
    os.remove(
        os.path.join(copy_root, 'office', 'Easy', 'P000', 'image_right',
                     '000005_right.png'))
    with pytest.raises(
            FileNotFoundError, match='image_right/000005_right.png'):
        ta.TartanAirSSCDataset(
            data_root=copy_root,
            label_root=exported,
            difficulties=['Easy'],
            trajectories=['P000'])


def test_cli_exports_one_trajectory(raw_root, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'create_tartanair_ssc',
        os.path.join(ROOT, 'tools', 'create_tartanair_ssc.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    args = cli.parse_args([
        '--data-root', raw_root, '--out-dir',
        str(tmp_path), '--difficulties', 'Easy', '--trajectories', 'P001'
    ])
    assert args.scene == 'office' and args.frame_step == 5
    assert args.right_camera == 'pose' and args.class_map is None
    # the CLI uses TartanAir's real intrinsics, wrong for the small fixture
    # images but enough to check what it writes
    cli.main([
        '--data-root', raw_root, '--out-dir',
        str(tmp_path), '--difficulties', 'Easy', '--trajectories', 'P001',
        '--right-camera', 'baseline'
    ])
    out = ta.label_dir(str(tmp_path), 'office', 'Easy', 'P001')
    assert sorted(os.listdir(out)) == [
        f'{frame}{suffix}' for frame in ('000000', '000005')
        for suffix in ('.json', '_1_1.npy', '_1_4.npy', '_1_8.npy')
    ]


TINY_GRID = (16, 16, 16)
TINY_VOXEL = 0.4
TINY_ORIGIN = (-3.2, -3.2, 0.0)
TINY_HW = (30, 40)
TINY_K = tr.TARTANAIR_CAM_K / 16
TINY_K[2, 2] = 1.0


def tiny_options(raw_root, label_root, work_dir):
    """--cfg-options shrinking configs/occdepth_tartanair.py to CPU size."""
    options = {
        'work_dir': work_dir,
        'model.grid_size': TINY_GRID,
        'model.voxel_size': TINY_VOXEL,
        'model.voxel_origin': TINY_ORIGIN,
        'model.feature_channels': 8,
        'model.backbone.arch': 'b0',
        'model.depth_head.mid_channels': 8,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_begin': 2,
        'default_hooks.logger.interval': 1,
        'visualizer.vis_backends': [dict(type='LocalVisBackend')],
        'env_cfg.dist_cfg.backend': 'gloo',
    }
    for loader, traj in (('train_dataloader', 'P000'), ('val_dataloader',
                                                        'P001')):
        options[f'{loader}.num_workers'] = 0
        options[f'{loader}.persistent_workers'] = False
        dataset = dict(
            data_root=raw_root,
            label_root=label_root,
            difficulties=['Easy'],
            trajectories=[traj],
            grid_size=TINY_GRID,
            voxel_size=TINY_VOXEL,
            voxel_origin=TINY_ORIGIN)
        for key, value in dataset.items():
            options[f'{loader}.dataset.{key}'] = value
    options['val_dataloader.dataset.indices'] = 1
    return options


def test_config_trains_and_evaluates_on_the_room(tmp_path):
    raw_root = make_tartanair(str(tmp_path / 'raw'), TINY_HW, TINY_K)
    label_root = str(tmp_path / 'labels')
    ts.export_ssc_labels(
        raw_root,
        label_root,
        difficulties=['Easy'],
        cam_k=TINY_K,
        grid_size=TINY_GRID,
        voxel_size=TINY_VOXEL,
        voxel_origin=TINY_ORIGIN)
    cfg = Config.fromfile(
        os.path.join(ROOT, 'configs', 'occdepth_tartanair.py'))
    assert cfg.model.occ_head.num_classes == 14
    assert cfg.model.occ_head.loss_occ.class_weight == [0.05, 2.0]
    assert cfg.train_dataloader.dataset.grid_size == (120, 48, 120)
    cfg.merge_from_dict(
        tiny_options(raw_root, label_root, str(tmp_path / 'work')))
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    metrics = runner.val()
    assert {f'IoU_{name}'
            for name in label_maps.TARTANAIR_CLASSES} < set(metrics)
    assert 0 <= metrics['mIoU'] <= 100 and 0 <= metrics['SC_IoU'] <= 100


def test_rint_binning_rounds_half_to_even():
    # the authors' depth2voxel: np.rint((p - origin) / size); 0.5 -> 0,
    # 1.5 -> 2, 2.5 -> 2, where floor gives 0, 1, 2
    points = np.array([[0.5, 0.0, 0.0], [1.5, 0.0, 0.0], [2.5, 0.0, 0.0],
                       [3.4, 0.0, 0.0]])
    classes = np.array([3, 5, 7, 2])
    rint = tl.surface_labels(
        points, classes, (4, 1, 1), 1.0, (0.0, 0.0, 0.0), 14, binning='rint')
    floor = tl.surface_labels(points, classes, (4, 1, 1), 1.0, (0.0, 0.0, 0.0),
                              14)
    # rint: voxel 2 holds the 5 and the 7 (tie -> 5), 3.4 -> 3
    assert rint.ravel().tolist() == [3, 0, 5, 2]
    assert floor.ravel().tolist() == [3, 5, 7, 2]
    with pytest.raises(ValueError, match='binning'):
        tl.surface_labels(
            points,
            classes, (4, 1, 1),
            1.0, (0.0, 0.0, 0.0),
            14,
            binning='round')


# A 4 x 3 view of the room from the level pose P000, K = [[2, 0, 1.5],
# [0, 2, 1], [0, 0, 1]]: pixel (u, v) looks along ((u - 1.5) / 2,
# (v - 1) / 2, 1) in the camera = voxel frame. Rows 0 and 1 meet the wall
# at depth 3.05; row 2 meets the floor at 2.5, except pixel (2, 2), which
# meets the box's side y_world = 0.45 at depth 1.8. Grid: 12 x 10 x 10 of
# 0.4 m from (-2.4, -2, -0.05).
TINY_ROOM_HW = (3, 4)
TINY_ROOM_K = np.array([[2.0, 0.0, 1.5], [0.0, 2.0, 1.0], [0.0, 0.0, 1.0]])
TINY_ROOM_GRID = dict(
    grid_size=(12, 10, 10), voxel_size=0.4, voxel_origin=(-2.4, -2.0, -0.05))
# (i, j, k, label) from index = rint((p - origin) / 0.4) of every pixel:
TINY_ROOM_AUTHORS = [
    # v = 0: y = -0.5 * 3.05 = -1.525 -> 1.19 -> 1; z = 3.05 -> 7.75 -> 8;
    # u = 0: x = -0.75 * 3.05 = -2.29 -> 0.28 -> 0, y_world < -1: objs
    (0, 1, 8, OBJS),
    # u = 1: x = -0.7625 -> 4.09 -> 4; u = 2: x = 0.7625 -> 7.91 -> 8
    (4, 1, 8, WALL),
    (8, 1, 8, WALL),
    # (u = 3: x = 2.29 -> 11.72 -> 12, outside the grid)
    # v = 1: y = 0 -> 5
    (0, 5, 8, OBJS),
    (4, 5, 8, WALL),
    (8, 5, 8, WALL),
    # v = 2, floor: y = 1.25 -> 8.125 -> 8, z = 2.5 -> 6.375 -> 6;
    # x = -1.875 -> 1.31 -> 1, -0.625 -> 4.44 -> 4, 1.875 -> 10.69 -> 11
    (1, 8, 6, FLOOR),
    (4, 8, 6, FLOOR),
    (11, 8, 6, FLOOR),
    # the box point (0.45, 0.9, 1.8): 7.125 -> 7, 7.25 -> 7, 4.625 -> 5
    (7, 7, 5, CHAIR),
]


def test_authors_labelling_of_a_tiny_view_by_hand():
    line = TRAJECTORIES['P000']
    depth, seg = render(line, TINY_ROOM_HW, TINY_ROOM_K)
    lidar2cam = tr.stereo_lidar2cam(tr.pose_to_matrix(line))[0]
    kwargs = dict(cam_k=TINY_ROOM_K, **TINY_ROOM_GRID)
    labels = tl.ssc_labels_from_depth(
        depth,
        seg,
        lidar2cam,
        tl.seg_class_lut(),
        labelling='authors',
        **kwargs)
    expected = np.zeros((12, 10, 10), dtype=np.uint8)
    for i, j, k, label in TINY_ROOM_AUTHORS:
        expected[i, j, k] = label
    # every voxel: the ten surface voxels, 0 everywhere else (no 255)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, expected)
    # the project's labelling bins with floor: the wall at z = 3.05 lands in
    # layer 7 (3.1 / 0.4 = 7.75), voxels behind it are unobserved (255)
    observed = tl.ssc_labels_from_depth(depth, seg, lidar2cam,
                                        tl.seg_class_lut(), **kwargs)
    assert observed[4, 1, 7] == WALL and observed[4, 1, 8] == 255
    assert observed[10, 8, 6] == FLOOR  # x = 1.875: floor(10.69)
    assert observed[11, 8, 6] == 255
    with pytest.raises(ValueError, match='labelling'):
        tl.ssc_labels_from_depth(
            depth,
            seg,
            lidar2cam,
            tl.seg_class_lut(),
            labelling='paper',
            **kwargs)


def test_cli_exports_the_authors_labelling(raw_root, exported, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'create_tartanair_ssc',
        os.path.join(ROOT, 'tools', 'create_tartanair_ssc.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    base = [
        '--data-root', raw_root, '--out-dir',
        str(tmp_path), '--difficulties', 'Easy', '--trajectories', 'P000'
    ]
    assert cli.parse_args(base).labelling == 'observed'
    with pytest.raises(SystemExit):
        cli.parse_args(base + ['--labelling', 'paper'])
    # the fixture's intrinsics through the library call the CLI makes
    written = ts.export_ssc_labels(
        raw_root,
        str(tmp_path),
        difficulties=['Easy'],
        trajectories=['P000'],
        cam_k=CAM_K,
        labelling='authors')
    assert written == {'Easy/P000': 2}
    labels = load_labels(str(tmp_path), 'P000')
    observed = load_labels(exported, 'P000')
    # surfaces only, everything else empty
    assert set(np.unique(labels)) == {0, FLOOR, WALL, CHAIR, OBJS}
    # the wall x_world = 3.05: rint(30.5) with float32 depths -> layer 30
    # as with floor; the box front 1.65 likewise layer 16
    assert labels[55, 25, 30] == WALL and labels[67, 39, 16] == CHAIR
    assert labels[55, 25, 15] == 0 and observed[55, 25, 15] == 0
    assert labels[55, 25, 40] == 0 and observed[55, 25, 40] == 255
    with open(
            os.path.join(
                ta.label_dir(str(tmp_path), 'office', 'Easy', 'P000'),
                '000000.json')) as f:
        assert json.load(f)['labelling'] == 'authors'
    cli.main(base + ['--labelling', 'authors', '--frame-step', '6'])
    with open(
            os.path.join(
                ta.label_dir(str(tmp_path), 'office', 'Easy', 'P000'),
                '000000.json')) as f:
        assert json.load(f)['labelling'] == 'authors'
