"""Tests of the synthetic SemanticKITTI generator and its command line tool.

The dataset is written once per module on a small grid with the KITTI extent
(64 x 64 x 8 voxels of 0.8 m = 51.2 x 51.2 x 6.4 m) and 48 x 160 images.
"""
import importlib.util
import os

import numpy as np
import pytest
import torch
from PIL import Image

from projects.OccDepth.occdepth.datasets import io
from projects.OccDepth.occdepth.datasets.kitti_calibration import kitti_calib
from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_LEARNING_MAP, SEMANTICKITTI_PALETTE, semantickitti_remap_lut)
from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration
from projects.OccDepth.occdepth.models.utils.geometry import (build_lidar2img,
                                                              project_points)
from tools.dataset_converters import synthetic_kitti as sk
from tools.dataset_converters import synthetic_streets as streets
from tools.dataset_converters import synthetic_voxels as voxels

GRID = (64, 64, 8)
VOXEL = 0.8
ORIGIN = np.array([0.0, -25.6, -2.0])
IMG_HW = (48, 160)
SEQUENCES = ('00', '08')
FRAMES = ('000000', '000005')
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _generate(out, seed=0, sequences=SEQUENCES):
    return sk.generate_dataset(
        str(out),
        sequences=sequences,
        frames=len(FRAMES),
        seed=seed,
        image_size=IMG_HW,
        grid_size=GRID,
        voxel_size=VOXEL)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp('synthetic_kitti')
    _generate(out)
    return str(out)


def _paths(root, seq, frame):
    seq_dir = os.path.join(root, 'sequences', seq)
    return dict(
        calib=os.path.join(seq_dir, 'calib.txt'),
        left=os.path.join(seq_dir, 'image_2', frame + '.png'),
        right=os.path.join(seq_dir, 'image_3', frame + '.png'),
        depth=os.path.join(root, 'depth', 'sequences', seq, 'depth',
                           frame + '.png'),
        **{
            ext: os.path.join(seq_dir, 'voxels', f'{frame}.{ext}')
            for ext in ('bin', 'label', 'invalid', 'occluded')
        })


def _load(root, seq, frame):
    p = _paths(root, seq, frame)
    calib = io.read_calib(p['calib'])
    cam2img, lidar2cam = stereo_calibration(calib)
    # (B, V, 4, 4) with B = 1, V = 2 (left, right)
    lidar2img = build_lidar2img(
        torch.from_numpy(cam2img), torch.from_numpy(lidar2cam))[None]
    return dict(
        calib=calib,
        lidar2img=lidar2img,
        labels=io.read_label(p['label'], GRID),
        invalid=io.read_voxel_bits(p['invalid'], GRID).astype(bool),
        occluded=io.read_voxel_bits(p['occluded'], GRID).astype(bool),
        scan=io.read_voxel_bits(p['bin'], GRID).astype(bool),
        left=np.array(Image.open(p['left'])).astype(np.float64),
        right=np.array(Image.open(p['right'])).astype(np.float64),
        depth=io.read_depth_png(p['depth']).astype(np.float64))


def _back_project(lidar2img, depth):
    """Pixels with depth, their velodyne points through P2 and Tr, and the
    unit ray directions."""
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    inv = np.linalg.inv(lidar2img[0, 0].numpy())
    pts = (inv @ np.stack([u * z, v * z, z, np.ones_like(z)]))[:3].T
    rays = pts - inv[:3, 3]
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    return u, v, z, pts, rays


def _tree(root):
    files = []
    for base, _, names in os.walk(root):
        files += [os.path.relpath(os.path.join(base, n), root) for n in names]
    return sorted(files)


def test_layout_and_file_sizes(dataset):
    expected = []
    for seq in SEQUENCES:
        expected += [
            f'sequences/{seq}/{n}'
            for n in ('calib.txt', 'poses.txt', 'times.txt')
        ]
        for frame in FRAMES:
            expected += [
                f'sequences/{seq}/image_2/{frame}.png',
                f'sequences/{seq}/image_3/{frame}.png',
                f'depth/sequences/{seq}/depth/{frame}.png'
            ] + [
                f'sequences/{seq}/voxels/{frame}.{ext}'
                for ext in ('bin', 'label', 'invalid', 'occluded')
            ]
    assert _tree(dataset) == sorted(expected)
    num = 64 * 64 * 8
    for seq in SEQUENCES:
        for frame in FRAMES:
            p = _paths(dataset, seq, frame)
            for ext in ('bin', 'invalid', 'occluded'):
                assert os.path.getsize(p[ext]) == num // 8
            assert os.path.getsize(p['label']) == 2 * num
            for view in ('left', 'right'):
                with Image.open(p[view]) as img:
                    assert img.mode == 'RGB' and img.size == (160, 48)
            with Image.open(p['depth']) as img:
                assert img.size == (160, 48)
                assert np.array(img).dtype in (np.uint16, np.int32)
        # one pose and one time stamp per scan 0..5
        seq_dir = os.path.join(dataset, 'sequences', seq)
        poses = np.loadtxt(os.path.join(seq_dir, 'poses.txt'))
        times = np.loadtxt(os.path.join(seq_dir, 'times.txt'))
        assert poses.shape == (6, 12) and times.shape == (6, )
        np.testing.assert_allclose(times, np.arange(6) * 0.1)
        # the ego drives forward: cam0 moves along its z axis only
        np.testing.assert_allclose(poses[0], np.eye(4)[:3].ravel(), atol=1e-9)
        assert poses[5, 11] > 3.0 and abs(poses[5, 3]) < 0.2


def test_calibration():
    calib = kitti_calib('08')
    fx = 707.0912
    # KITTI's sequence-08 intrinsics at the 370 x 1220 crop
    np.testing.assert_allclose(
        calib['P2'][:, :3], [[fx, 0, 601.8873], [0, fx, 183.1104], [0, 0, 1]])
    np.testing.assert_allclose(calib['P2'][:, 3], [fx * 0.06, 0, 0])
    np.testing.assert_allclose(calib['P3'][:, 3], [-fx * 0.48, 0, 0])
    np.testing.assert_allclose(calib['P1'][:, 3], [-fx * 0.537, 0, 0])
    np.testing.assert_allclose(calib['P0'][:, 3], 0)
    assert calib['P2'][0, 0] == calib['P3'][0, 0]
    # a 160 px wide image scales the intrinsics, keeping pixel centres
    small = kitti_calib('08', (37, 122))['P2']
    np.testing.assert_allclose(small[0, 0], fx / 10)
    np.testing.assert_allclose(small[0, 2], (601.8873 + 0.5) / 10 - 0.5)
    assert kitti_calib('00')['P2'][0, 0] == 718.856
    rot = calib['Tr'][:, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    # cam z = velo x, cam x = -velo y, cam y = -velo z (up to a small tilt)
    np.testing.assert_allclose(
        rot, [[0, -1, 0], [0, 0, -1], [1, 0, 0]], atol=0.01)
    centre = -rot.T @ calib['Tr'][:, 3]
    np.testing.assert_allclose(centre, [0.29, -0.01, -0.06], atol=0.01)


def test_written_calib_parses(dataset):
    for seq in SEQUENCES:
        calib = io.read_calib(
            _paths(dataset, seq, FRAMES[0])['calib'],
            required=('P0', 'P1', 'P2', 'P3', 'Tr'))
        fx = calib['P2'][0, 0]
        baseline = -(calib['P3'][0, 3] - calib['P2'][0, 3]) / fx
        assert baseline == pytest.approx(0.54, abs=1e-9)
        assert 0 < calib['P2'][0, 3] / fx < 0.1
        np.testing.assert_allclose(calib['P2'][:, :3], calib['P3'][:, :3])
        assert fx == pytest.approx(kitti_calib(seq)['P2'][0, 0] * 160 / 1220)


def test_labels_are_valid_raw_ids(dataset):
    lut = semantickitti_remap_lut()
    raw_ids = set(SEMANTICKITTI_LEARNING_MAP) - {1, 52, 99}
    assert set(streets.SCENE_LABELS) <= raw_ids
    classes = set()
    for seq in SEQUENCES:
        for frame in FRAMES:
            d = _load(dataset, seq, frame)
            labels = d['labels']
            assert set(
                np.unique(labels).tolist()) <= {0, *streets.SCENE_LABELS}
            train = lut[labels]
            assert (train != 255).all()
            present = set(np.unique(train[~d['invalid']]).tolist())
            assert {0, 9, 11, 17} <= present  # empty, road, sidewalk, terrain
            classes |= present
            occupied = labels != 0
            # the scan only holds observed, occupied voxels
            assert d['scan'].any()
            assert not (d['scan'] & ~occupied).any()
            assert not (d['scan'] & d['invalid']).any()
            # seen from some scan point includes seen from the first one
            assert not (d['invalid'] & ~d['occluded']).any()
            assert 0.05 < d['invalid'].mean() < 0.8
            # voxels buried in occupied space can never be observed
            buried = occupied.copy()
            for axis in range(3):
                for shift in (1, -1):
                    nb = np.roll(occupied, shift, axis)
                    edge = [slice(None)] * 3
                    edge[axis] = 0 if shift == 1 else -1
                    nb[tuple(edge)] = False
                    buried &= nb
            assert buried.any() and d['invalid'][buried].all()
    assert len(classes - {0}) >= 8


def test_same_seed_same_bytes(dataset, tmp_path):
    _generate(tmp_path / 'again', sequences=('08', ))
    _generate(tmp_path / 'other', seed=1, sequences=('08', ))
    again = _tree(tmp_path / 'again')
    assert again == [f for f in _tree(dataset) if '/08/' in f]
    for name in again:
        with open(os.path.join(dataset, name), 'rb') as f:
            ref = f.read()
        with open(tmp_path / 'again' / name, 'rb') as f:
            assert f.read() == ref, name
    for ext in ('label', 'png'):
        name = [n for n in again if n.endswith(ext)][0]
        with open(os.path.join(dataset, name), 'rb') as f:
            ref = f.read()
        with open(tmp_path / 'other' / name, 'rb') as f:
            assert f.read() != ref, name


def test_frames_differ(dataset):
    a = _load(dataset, '00', '000000')
    b = _load(dataset, '00', '000005')
    c = _load(dataset, '08', '000000')
    assert (a['labels'] != b['labels']).mean() > 0.01
    assert (a['labels'] != c['labels']).mean() > 0.01
    assert np.abs(a['left'] - b['left']).mean() > 5


def test_depth_is_first_occupied_voxel(dataset):
    d = _load(dataset, '08', '000000')
    occupied = d['labels'] != 0
    inv = np.linalg.inv(d['lidar2img'][0, 0].numpy())
    rng = np.random.default_rng(0)
    v = rng.integers(0, IMG_HW[0], 300)
    u = rng.integers(0, IMG_HW[1], 300)
    # brute force: march every ray in 1 cm steps of camera depth
    t = np.arange(0.0, 60.0, 0.01)
    dirs = inv[:3, :3] @ np.stack([u, v, np.ones_like(u)])
    pts = inv[:3, 3][None, :, None] + t[:, None, None] * dirs[None]
    idx = np.floor((pts - ORIGIN[None, :, None]) / VOXEL).astype(int)
    inside = ((idx >= 0) & (idx < np.array(GRID)[None, :, None])).all(1)
    idx = np.where(inside[:, None], idx, 0)
    hit = inside & occupied[idx[:, 0], idx[:, 1], idx[:, 2]]
    first = np.where(hit.any(0), t[hit.argmax(0)], 0.0)
    png = d['depth'][v, u]
    assert ((png > 0) == (first > 0)).mean() > 0.99
    both = (png > 0) & (first > 0)
    assert both.sum() > 150
    err = np.abs(png[both] - first[both])
    assert err.max() <= VOXEL
    assert (err <= 0.02).mean() > 0.97


def test_back_projected_depth_lies_on_occupied_voxels(dataset):
    for seq in SEQUENCES:
        d = _load(dataset, seq, FRAMES[1])
        occupied = d['labels'] != 0
        _, _, _, pts, _ = _back_project(d['lidar2img'], d['depth'])
        assert len(pts) > 0.5 * IMG_HW[0] * IMG_HW[1]
        idx = np.floor((pts - ORIGIN) / VOXEL).astype(int)
        near = np.full(len(pts), np.inf)
        for off in np.stack(np.meshgrid(*[[-1, 0, 1]] * 3), -1).reshape(-1, 3):
            j = idx + off
            ok = ((j >= 0) & (j < GRID)).all(1)
            j = np.clip(j, 0, np.array(GRID) - 1)
            centre = ORIGIN + (j + 0.5) * VOXEL
            dist = np.abs(pts - centre).max(1)
            good = ok & occupied[j[:, 0], j[:, 1], j[:, 2]]
            near = np.where(good, np.minimum(near, dist), near)
        # on the surface of an occupied voxel, up to the PNG's 1/256 m
        assert (near <= VOXEL / 2 + 0.02).all()


def test_stereo_pair_follows_disparity(dataset):
    lut = semantickitti_remap_lut()
    scene_classes = lut[list(streets.SCENE_LABELS)]
    palette = np.asarray(
        SEMANTICKITTI_PALETTE, dtype=np.float64)[scene_classes]
    for seq in SEQUENCES:
        d = _load(dataset, seq, FRAMES[0])
        calib = d['calib']
        fx = calib['P2'][0, 0]
        baseline = -(calib['P3'][0, 3] - calib['P2'][0, 3]) / fx
        u, v, z, pts, rays = _back_project(d['lidar2img'], d['depth'])
        uv, depth = project_points(torch.from_numpy(pts), d['lidar2img'])
        uv = uv[0].numpy()
        np.testing.assert_allclose(uv[0], np.stack([u, v], 1), atol=1e-6)
        np.testing.assert_allclose(
            uv[1, :, 0], u - fx * baseline / z, atol=1e-6)
        np.testing.assert_allclose(uv[1, :, 1], v, atol=1e-6)
        ur = np.round(uv[1, :, 0]).astype(int)
        ok = ur >= 0
        diff = np.abs(d['left'][v[ok], u[ok]] - d['right'][v[ok], ur[ok]])
        assert (diff.max(1) < 25).mean() > 0.8
        # colour encodes class: the nearest palette colour (among the
        # scene's classes) of a pixel is the class of the voxel its ray
        # enters at the back-projected point
        idx = np.floor((pts + 0.02 * rays - ORIGIN) / VOXEL).astype(int)
        idx = np.clip(idx, 0, np.array(GRID) - 1)
        train = lut[d['labels'][idx[:, 0], idx[:, 1], idx[:, 2]]]
        colour = d['left'][v, u]
        nearest = scene_classes[((colour[:, None] -
                                  palette[None])**2).sum(-1).argmin(1)]
        known = train > 0
        assert known.mean() > 0.5
        assert (nearest[known] == train[known]).mean() > 0.7


def test_cast_rays_by_hand():
    occupied = np.zeros((40, 40, 40), dtype=bool)
    occupied[5, 0, 0] = True
    occupied[30, 30, 30] = True
    radius = voxels.free_radius(occupied, cap=4)
    assert radius[5, 0, 0] == -1 and radius[6, 0, 0] == 0
    assert radius[7, 1, 2] == 1 and radius[20, 20, 20] == 4
    origin = np.array([0.5, 0.5, 0.5])
    dirs = np.array([[1.0, 0, 0], [1, 1, 1], [0, 1, 0], [-1, 0, 0], [2, 2, 2]])
    t, flat = voxels.cast_rays(radius, origin, dirs)
    # x ray enters voxel 5 at x = 5; the diagonal enters (30,30,30) at 30;
    # the y ray and the backward ray leave the grid; t scales with 1/|d|
    np.testing.assert_allclose(t, [4.5, 29.5, 0, 0, 14.75], atol=1e-4)
    assert flat.tolist() == [
        5 * 1600, 30 * 1600 + 30 * 40 + 30, -1, -1, 30 * 1600 + 30 * 40 + 30
    ]
    faces = voxels.hit_faces(origin, dirs[:2], flat[:2], (40, 40, 40))
    assert faces[0] == 0


def test_cast_rays_matches_brute_force():
    rng = np.random.default_rng(3)
    occupied = rng.random((24, 20, 12)) < 0.01
    radius = voxels.free_radius(occupied)
    origin = np.array([1.3, 9.7, 5.2])
    dirs = rng.normal(size=(300, 3))
    dirs[:, 0] = np.abs(dirs[:, 0])
    t, flat = voxels.cast_rays(radius, origin, dirs)
    steps = np.arange(0.0, 60.0, 0.001)
    for n in range(0, 300, 7):
        p = origin + steps[:, None] * dirs[n]
        idx = np.floor(p).astype(int)
        inside = ((idx >= 0) & (idx < occupied.shape)).all(1)
        idx = idx[inside]
        hits = np.flatnonzero(occupied[idx[:, 0], idx[:, 1], idx[:, 2]])
        if hits.size == 0:
            assert flat[n] == -1
            continue
        first = idx[hits[0]]
        assert flat[n] == np.ravel_multi_index(first, occupied.shape)
        assert t[n] == pytest.approx(steps[inside][hits[0]], abs=2e-3)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='sequence'):
        _generate(tmp_path, sequences=('seq0', ))
    with pytest.raises(ValueError, match='frames'):
        sk.generate_dataset(str(tmp_path), frames=0)
    with pytest.raises(ValueError, match='grid_size'):
        sk.generate_dataset(str(tmp_path), grid_size=(3, 3, 3))


def test_command_line_tool(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'create_synthetic_kitti',
        os.path.join(ROOT, 'tools', 'create_synthetic_kitti.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'kitti'
    tool.main([
        '--out',
        str(out), '--sequences', '03', '--frames', '1', '--image-size', '24',
        '80', '--grid-size', '32', '32', '8', '--voxel-size', '0.8',
        '--depth-root',
        str(tmp_path / 'stereo')
    ])
    assert 'wrote 1 frames' in capsys.readouterr().out
    labels = io.read_label(
        str(out / 'sequences/03/voxels/000000.label'), (32, 32, 8))
    assert (labels == streets.ROAD).any()
    depth = io.read_depth_png(
        str(tmp_path / 'stereo/sequences/03/depth/000000.png'))
    assert depth.shape == (24, 80) and depth.max() > 1
    calib = io.read_calib(str(out / 'sequences/03/calib.txt'))
    assert calib['P2'][0, 0] == pytest.approx(721.5377 * 80 / 1220)


def test_command_line_tool_benchmark_scene(tmp_path, capsys):
    """``--scene benchmark`` writes the stereo benchmark at its own default
    sizes (128 x 416 images, 64 x 64 x 16 voxels of 0.3 m)."""
    spec = importlib.util.spec_from_file_location(
        'create_synthetic_kitti',
        os.path.join(ROOT, 'tools', 'create_synthetic_kitti.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'bench'
    tool.main(['--scene', 'benchmark', '--out', str(out), '--frames', '1'])
    assert 'wrote 1 frames' in capsys.readouterr().out
    labels = io.read_label(
        str(out / 'sequences/00/voxels/000000.label'), (64, 64, 16))
    assert labels.size == 64 * 64 * 16 and (labels > 0).any()
    image = Image.open(out / 'sequences/00/image_3/000000.png')
    assert image.size == (416, 128)
    depth = io.read_depth_png(str(out / 'depth/sequences/00/depth/000000.png'))
    # nothing beyond the grid's far corner (19.2 m ahead, 9.6 m aside)
    assert depth.shape == (128, 416) and 0 < depth.max() < 22.0
