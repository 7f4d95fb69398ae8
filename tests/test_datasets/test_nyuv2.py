"""NYUv2 (depthbin layout): file formats, labels, geometry, pipeline, config.

Fixtures are written with the project's own writers in ``tmp_path``: the
real 240 x 144 x 240 ``.bin`` grid (run-length encoded, a few kB) with tiny
48 x 64 images and intrinsics scaled to them.
"""
import copy
import os

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS, TRANSFORMS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from PIL import Image

import projects.OccDepth.occdepth  # noqa: F401
from projects.OccDepth.occdepth.datasets import nyu_io
from projects.OccDepth.occdepth.datasets.nyuv2 import (NYUv2SSCDataset,
                                                       create_nyu_cache,
                                                       nyu_calibration)
from projects.OccDepth.occdepth.datasets.transforms.nyu_loading import (
    LoadNYUDepth, LoadNYULabels)
from projects.OccDepth.occdepth.evaluation.ssc_metric import SSCMetric
from projects.OccDepth.occdepth.models.utils import geometry
from projects.OccDepth.occdepth.models.view_transformers import virtual_stereo

IMG_HW = (48, 64)
FOCAL = 51.88579  # the Kinect's 518.8579 px scaled to the 64 px wide image
TINY_K = ((FOCAL, 0.0, 32.0), (0.0, FOCAL, 24.0), (0.0, 0.0, 1.0))
GRID = (60, 36, 60)
VOX_ORIGIN = (-2.1, 0.4, -0.05)


def camera_pose(yaw=0.15, position=(0.3, -0.2, 1.3)):
    """Camera -> world: looking along world +y, image down = world -z,
    turned by ``yaw`` about the vertical."""
    look = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
    c, s = np.cos(yaw), np.sin(yaw)
    rot_z = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = rot_z @ look
    pose[:3, 3] = position
    return pose.astype(np.float32)


def raw_scene():
    """Raw 37-class labels (array axes world x, z, y) and the training ids
    expected at 1:4 and 1:16, written by hand."""
    raw = np.zeros(nyu_io.NYU_FULL_GRID, dtype=np.uint8)
    gt4 = np.zeros(GRID, dtype=np.uint8)
    gt16 = np.zeros((15, 9, 15), dtype=np.uint8)
    raw[:, :16] = 2  # floor (raw 2 -> 2): z index 0..15
    gt4[:, :4] = 2
    gt16[:, :1] = 2
    raw[:, :, 224:] = 3  # wall (raw 3 -> 3) at the far y end
    gt4[:, :, 56:] = 3
    gt16[:, :, 14:] = 3
    raw[:, 128:] = 255  # unlabelled ceiling slab
    gt4[:, 32:] = 255
    gt16[:, 8:] = 255
    # a chair (raw 6 -> 5) exactly one 16-block
    raw[32:48, 16:32, 64:80] = 6
    gt4[8:12, 4:8, 16:20] = 5
    gt16[2, 1, 4] = 5
    # 1:4 block (20, 5, 30): 30 chair, 20 tv (raw 17 -> 8), 14 empty
    block = np.zeros(64, dtype=np.uint8)
    block[:30], block[30:50] = 6, 17
    raw[80:84, 20:24, 120:124] = block.reshape(4, 4, 4)
    gt4[20, 5, 30] = 5
    # 1:4 block (21, 5, 30): 62 empty + 2 table (raw 8 -> 7) -> empty
    block = np.zeros(64, dtype=np.uint8)
    block[:2] = 8
    raw[84:88, 20:24, 120:124] = block.reshape(4, 4, 4)
    # 1:4 block (22, 5, 30): 61 unlabelled + 3 table -> 255
    block = np.full(64, 255, dtype=np.uint8)
    block[:3] = 8
    raw[88:92, 20:24, 120:124] = block.reshape(4, 4, 4)
    gt4[22, 5, 30] = 255
    # 1:4 block (23, 5, 30): 32 of raw 36 (-> 11), 32 of raw 30 (-> 8):
    # tie -> the smaller training id
    block = np.full(64, 36, dtype=np.uint8)
    block[:32] = 30
    raw[92:96, 20:24, 120:124] = block.reshape(4, 4, 4)
    gt4[23, 5, 30] = 8
    # their 1:16 block (5, 1, 7) holds 119 labelled voxels of 4096 (< 5 %)
    # and more empty than unlabelled ones: empty
    # 1:16 block (10, 2, 10): half tv (raw 17 -> 8), a quarter chair, a
    # quarter empty -> 8
    raw[160:168, 32:48, 160:176] = 17
    raw[168:172, 32:48, 160:176] = 6
    gt4[40:42, 8:12, 40:44] = 8
    gt4[42, 8:12, 40:44] = 5
    gt16[10, 2, 10] = 8
    # 1:16 block (12, 2, 10): half raw 36 (-> 11), half raw 30 (-> 8):
    # tie -> 8
    raw[192:200, 32:48, 160:176] = 36
    raw[200:208, 32:48, 160:176] = 30
    gt4[48:50, 8:12, 40:44] = 11
    gt4[50:52, 8:12, 40:44] = 8
    gt16[12, 2, 10] = 8
    return raw, gt4, gt16


def fixture_image(seed, hw=IMG_HW):
    return np.random.RandomState(seed).randint(
        0, 256, size=(*hw, 3), dtype=np.uint8)


def fixture_depth(index, hw=IMG_HW):
    u = np.arange(hw[1], dtype=np.float32)
    depth = np.broadcast_to(1.5 + u / 32 + index, hw).copy()
    depth[0, :4] = 0  # no measurement
    return depth


def write_frame(folder, name, index, raw=None, pose=None, jpg=True, png=True):
    os.makedirs(folder, exist_ok=True)
    raw = raw_scene()[0] if raw is None else raw
    pose = camera_pose(0.1 * index) if pose is None else pose
    nyu_io.write_nyu_bin(
        os.path.join(folder, f'{name}.bin'), VOX_ORIGIN, pose, raw)
    if jpg:
        Image.fromarray(fixture_image(index)).save(
            os.path.join(folder, f'{name}_color.jpg'), quality=95)
    if png:
        nyu_io.write_nyu_depth(
            os.path.join(folder, f'{name}.png'), fixture_depth(index))


@pytest.fixture(scope='module')
def nyu_root(tmp_path_factory):
    """2 train frames, 1 test frame, and their label cache."""
    root = tmp_path_factory.mktemp('nyu')
    data = str(root / 'depthbin')
    write_frame(os.path.join(data, 'NYUtrain'), 'NYU0003_0000', 0)
    write_frame(os.path.join(data, 'NYUtrain'), 'NYU0004_0000', 1)
    write_frame(os.path.join(data, 'NYUtest'), 'NYU0001_0000', 2)
    cache = str(root / 'preprocess')
    # the benchmark grids (1:4, 1:16) and a coarse CPU-test grid (1:12,
    # 1:48)
    assert create_nyu_cache(data, cache, factors=(4, 16, 12, 48)) == 3
    return data, cache


def tiny_dataset(nyu_root, split='train', pipeline=(), **kwargs):
    data, cache = nyu_root
    kwargs.setdefault('label_cache_root', cache)
    return NYUv2SSCDataset(
        data_root=data,
        split=split,
        intrinsics=TINY_K,
        pipeline=list(pipeline),
        **kwargs)


# --------------------------------------------------------------------------
# file formats
# --------------------------------------------------------------------------
def test_rle_round_trip(tmp_path):
    raw, _, _ = raw_scene()
    path = str(tmp_path / 'a.bin')
    pose = camera_pose()
    nyu_io.write_nyu_bin(path, VOX_ORIGIN, pose, raw)
    # header + one (value, count) pair per run
    runs = nyu_io.rle_encode(raw)
    assert os.path.getsize(path) == 76 + 8 * len(runs)
    assert os.path.getsize(path) < raw.size // 10
    origin, pose_read, raw_read = nyu_io.read_nyu_bin(path)
    np.testing.assert_array_equal(origin, np.float32(VOX_ORIGIN))
    np.testing.assert_array_equal(pose_read, pose)
    np.testing.assert_array_equal(raw_read, raw)
    origin_h, pose_h = nyu_io.read_nyu_bin_header(path)
    np.testing.assert_array_equal(origin_h, origin)
    np.testing.assert_array_equal(pose_h, pose)
    # C order: the last array axis varies fastest in the runs
    assert nyu_io.rle_encode(np.array([[1, 1], [2, 1]])).tolist() == [[1, 2],
                                                                      [2, 1],
                                                                      [1, 1]]
    assert nyu_io.rle_decode(np.array([[7, 2], [0, 1]]),
                             3).tolist() == [7, 7, 0]


def test_bin_layout_is_the_documented_byte_format(tmp_path):
    raw = np.zeros(nyu_io.NYU_FULL_GRID, dtype=np.uint8)
    raw.reshape(-1)[-5:] = 255
    path = str(tmp_path / 'b.bin')
    pose = np.arange(16, dtype=np.float32).reshape(4, 4)
    nyu_io.write_nyu_bin(path, (1.0, 2.0, 3.0), pose, raw)
    data = open(path, 'rb').read()
    floats = np.frombuffer(data[:76], dtype='<f4')
    assert floats[:3].tolist() == [1.0, 2.0, 3.0]
    assert floats[3:].tolist() == list(range(16))  # row-major cam_pose
    pairs = np.frombuffer(data[76:], dtype='<u4').tolist()
    assert pairs == [0, 240 * 144 * 240 - 5, 255, 5]


def test_class_map_37_to_12_keeps_255():
    raw = np.arange(37, dtype=np.uint8)
    mapped = nyu_io.map_nyu_classes(raw)
    assert mapped.tolist() == [
        0, 1, 2, 3, 4, 11, 5, 6, 7, 8, 8, 10, 10, 10, 11, 11, 9, 8, 11, 11, 11,
        11, 11, 11, 11, 11, 11, 10, 10, 11, 8, 10, 11, 9, 11, 11, 11
    ]
    assert mapped.dtype == np.uint8
    assert nyu_io.map_nyu_classes(np.array([255, 0,
                                            36])).tolist() == [255, 0, 11]
    with pytest.raises(ValueError, match=r'values \[37, 254\]'):
        nyu_io.map_nyu_classes(np.array([1, 37, 254]), 'x.bin')


def test_depth_png_bit_rotation(tmp_path):
    path = str(tmp_path / 'd.png')
    depth = np.array([[0.0, 1.234, 8.191, 9.0]], dtype=np.float32)
    nyu_io.write_nyu_depth(path, depth)
    stored = np.array(Image.open(path)).astype(np.int64)
    mm = np.array([0, 1234, 8191, 9000])
    # rotated left by 3 bits within 16 bits (SUN RGB-D / SSCNet format)
    np.testing.assert_array_equal(stored, [((mm << 3) | (mm >> 13)) & 0xFFFF])
    np.testing.assert_allclose(nyu_io.read_nyu_depth(path), depth, atol=1e-6)
    # the released code's value / 8000 agrees below 8.192 m only
    legacy = nyu_io.read_nyu_depth(path, bit_rotation=False)
    np.testing.assert_allclose(legacy[0, :3], depth[0, :3], atol=1e-6)
    assert abs(legacy[0, 3] - 9.0) > 1


@pytest.mark.parametrize('cut,match', [
    (lambda d: d[:40], 'header alone'),
    (lambda d: d[:-3], 'whole number of uint32'),
    (lambda d: d[:-8], 'ends early'),
    (lambda d: d + np.array([0, 7], '<u4').tobytes(), 'overflows'),
    (lambda d: d[:76] + np.array([40], '<u4').tobytes() + d[80:],
     'not NYU class ids'),
    (lambda d: d + np.array([300, 0], '<u4').tobytes(), 'run value 300'),
])
def test_bad_bin_files_give_clear_errors(tmp_path, cut, match):
    raw = np.zeros(nyu_io.NYU_FULL_GRID, dtype=np.uint8)
    raw[:, :10] = 2
    path = str(tmp_path / 'bad.bin')
    nyu_io.write_nyu_bin(path, VOX_ORIGIN, camera_pose(), raw)
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(cut(data))
    with pytest.raises(ValueError, match=match) as info:
        nyu_io.read_nyu_labels(path)
    assert 'bad.bin' in str(info.value)


def test_missing_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.bin'):
        nyu_io.read_nyu_bin(str(tmp_path / 'nope.bin'))
    root = str(tmp_path / 'depthbin')
    raw = np.zeros(nyu_io.NYU_FULL_GRID, dtype=np.uint8)
    write_frame(
        os.path.join(root, 'NYUtrain'), 'NYU0001_0000', 0, raw=raw, jpg=False)
    with pytest.raises(FileNotFoundError, match=r'NYU0001_0000_color\.jpg'):
        NYUv2SSCDataset(data_root=root, split='train')
    write_frame(
        os.path.join(root, 'NYUtest'), 'NYU0002_0000', 0, raw=raw, png=False)
    dataset = NYUv2SSCDataset(data_root=root, split='test', test_mode=True)
    with pytest.raises(FileNotFoundError, match=r'NYU0002_0000\.png'):
        LoadNYUDepth()(dataset.get_data_info(0))
    with pytest.raises(ValueError, match='no .bin files'):
        NYUv2SSCDataset(data_root=str(tmp_path / 'empty'), split='train')
    with pytest.raises(ValueError, match='split'):
        NYUv2SSCDataset(data_root=root, split='val')
    cached = NYUv2SSCDataset(
        data_root=root,
        split='test',
        test_mode=True,
        label_cache_root=str(tmp_path / 'no_cache'))
    with pytest.raises(FileNotFoundError, match=r'NYU0002_0000_1_4\.npy'):
        LoadNYULabels()(cached.get_data_info(0))


# --------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------
def test_labels_at_1_4_and_1_16_majority_rule(nyu_root):
    data, _ = nyu_root
    _, gt4, gt16 = raw_scene()
    info = dict(
        bin_path=os.path.join(data, 'NYUtrain', 'NYU0003_0000.bin'),
        label_cache_prefix=None,
        grid_size=GRID)
    results = LoadNYULabels(crp_factor=4)(info)
    assert results['gt_occ'].dtype == np.uint8
    np.testing.assert_array_equal(results['gt_occ'], gt4)
    np.testing.assert_array_equal(results['gt_occ_crp'], gt16)


def test_label_cache_matches_decoding(nyu_root):
    dataset = tiny_dataset(nyu_root, pipeline=[dict(type='LoadNYULabels')])
    _, gt4, gt16 = raw_scene()
    results = dataset[0]
    np.testing.assert_array_equal(results['gt_occ'], gt4)
    np.testing.assert_array_equal(results['gt_occ_crp'], gt16)
    assert 'gt_occ_crp' not in LoadNYULabels(crp_factor=None)(
        dataset.get_data_info(0))


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def _lidar2img(info):
    cam2img = torch.from_numpy(info['cam2img'])
    lidar2cam = torch.from_numpy(info['lidar2cam'])
    return geometry.build_lidar2img(cam2img, lidar2cam)[None]


def test_projection_of_a_known_voxel_by_hand(nyu_root):
    dataset = tiny_dataset(nyu_root)
    info = dataset.get_data_info(1)
    assert info['cam2img'].shape == (2, 3, 3)
    assert info['lidar2cam'].shape == (2, 4, 4)
    assert info['voxel_origin'] == (0.0, 0.0, 0.0)
    centers = geometry.voxel_centers(GRID, 0.08, (0.0, 0.0, 0.0))
    i, j, k = 30, 10, 40  # array index (x, z, y)
    uv, depth = geometry.project_points(
        centers[i * 36 * 60 + j * 60 + k][None], _lidar2img(info))
    # by hand: world point of the voxel centre, then inv(cam_pose) and K
    world = np.array(VOX_ORIGIN) + 0.08 * np.array([i + 0.5, k + 0.5, j + 0.5])
    cam = np.linalg.inv(camera_pose(0.1).astype(np.float64)) @ np.append(
        world, 1.0)
    u = FOCAL * cam[0] / cam[2] + 32
    v = FOCAL * cam[1] / cam[2] + 24
    assert uv[0, 0, 0].tolist() == pytest.approx([u, v], abs=1e-4)
    assert depth[0, 0, 0].item() == pytest.approx(cam[2], abs=1e-5)
    # the virtual right camera: 0.1 m along camera x, u_R = u_L - f b / z
    u_right = FOCAL * (cam[0] - 0.1) / cam[2] + 32
    assert uv[0, 1, 0].tolist() == pytest.approx([u_right, v], abs=1e-4)
    assert u - u_right == pytest.approx(FOCAL * 0.1 / cam[2])


def test_projection_matches_reference_vox2pix_then_permute(nyu_root):
    """Every voxel lands on the pixel of the reference's enumeration: world
    grid (60, 60, 36) in (x, y, z), centres vox_origin + 0.08 (idx + 0.5),
    projected and permuted to the label order (x, z, y)."""
    dataset = tiny_dataset(nyu_root)
    info = dataset.get_data_info(0)
    ours_uv, ours_z = geometry.project_points(
        geometry.voxel_centers(GRID, 0.08, (0.0, 0.0, 0.0)), _lidar2img(info))
    ours = geometry.round_pixels(ours_uv[0, 0]).reshape(*GRID, 2)

    idx = np.stack(
        np.meshgrid(
            np.arange(60), np.arange(60), np.arange(36), indexing='ij'),
        -1).reshape(-1, 3)
    world = np.float32(VOX_ORIGIN) + np.float32(0.08) * (idx + 0.5)
    cam = (np.linalg.inv(camera_pose(0.0).astype(np.float64)) @ np.concatenate(
        [world, np.ones((len(world), 1))], 1).T).T
    k = np.array(TINY_K)
    pix = np.round(cam[:, :2] / cam[:, 2:3] * k[[0, 1], [0, 1]] +
                   k[:2, 2]).astype(np.int64)
    ref = pix.reshape(60, 60, 36, 2).transpose(0, 2, 1, 3)
    agree = (ours.numpy() == ref).all(-1)
    # float32 vs float64 centres can only flip exact .5 ties
    assert agree.mean() > 0.9999
    ref_z = cam[:, 2].reshape(60, 60, 36).transpose(0, 2, 1)
    np.testing.assert_allclose(
        ours_z[0, 0].reshape(GRID).numpy(), ref_z, atol=1e-5)
    # a fair part of the grid is in view of the tiny camera
    fov = geometry.in_image(ours, ours_z[0, 0].reshape(GRID), IMG_HW)
    assert 0.05 < fov.float().mean() < 0.95


def test_calibration_without_virtual_view():
    cam2img, lidar2cam = nyu_calibration(camera_pose(), VOX_ORIGIN, TINY_K,
                                         None)
    assert cam2img.shape == (1, 3, 3) and lidar2cam.shape == (1, 4, 4)
    grid2world = geometry.grid_to_frame_matrix((0, 2, 1), VOX_ORIGIN)
    np.testing.assert_allclose(
        grid2world @ [1.0, 2.0, 3.0, 1.0],
        [VOX_ORIGIN[0] + 1, VOX_ORIGIN[1] + 3, VOX_ORIGIN[2] + 2, 1])
    with pytest.raises(ValueError, match='permutation'):
        geometry.grid_to_frame_matrix((0, 1, 1), VOX_ORIGIN)


# --------------------------------------------------------------------------
# pipeline and config
# --------------------------------------------------------------------------
def tiny_cfg(nyu_root, level='feature', grid=GRID):
    """configs/occdepth_nyu.py with a B0 backbone, 8 channels, the tiny
    fixture and optionally a coarser grid (the CPU cost of the 3D UNet
    scales with the voxel count)."""
    data, cache = nyu_root
    cfg = Config.fromfile('configs/occdepth_nyu.py')
    voxel = 0.02 * 240 / grid[0]
    model = copy.deepcopy(cfg.model.to_dict())
    model.update(grid_size=grid, voxel_size=voxel, feature_channels=8)
    model['backbone'].update(arch='b0')
    model['virtual_stereo'].update(level=level)
    datasets = {}
    for split, loader in (('train', cfg.train_dataloader),
                          ('test', cfg.val_dataloader)):
        ds = copy.deepcopy(loader.dataset.to_dict())
        ds.update(
            data_root=data,
            label_cache_root=cache,
            intrinsics=TINY_K,
            grid_size=grid,
            voxel_size=voxel)
        datasets[split] = ds
    return cfg, model, datasets


def test_pipeline_packs_an_rgbd_sample(nyu_root):
    _, _, datasets = tiny_cfg(nyu_root)
    dataset = DATASETS.build(datasets['train'])
    assert len(dataset) == 2 and dataset.metainfo['classes'][1] == 'ceiling'
    sample = dataset[1]
    assert sample['inputs']['imgs'].shape == (1, 3, *IMG_HW)
    ds = sample['data_samples']
    assert ds.metainfo['cam2img'].shape == (2, 3, 3)
    assert ds.metainfo['lidar2cam'].shape == (2, 4, 4)
    assert ds.metainfo['img_shape'] == IMG_HW
    assert ds.frame_id == 'NYU0004_0000'
    assert ds.gt_occ.shape == GRID and ds.gt_occ.dtype == torch.uint8
    assert ds.gt_occ_crp.shape == (15, 9, 15)
    depth = fixture_depth(1)
    if ds.metainfo['flip']:
        depth = depth[:, ::-1]
    np.testing.assert_allclose(ds.gt_depth.numpy(), depth, atol=1e-3)


def test_depth_loader_clips_and_checks_size(nyu_root):
    data, _ = nyu_root
    path = os.path.join(data, 'NYUtrain', 'NYU0004_0000.png')
    results = LoadNYUDepth(max_depth=3.0)(
        dict(depth_path=path, img_shape=IMG_HW))
    assert results['gt_depth'].max() == pytest.approx(3.0)
    assert results['gt_depth'][0, 0] == 0
    with pytest.raises(ValueError, match='differs from the image size'):
        LoadNYUDepth()(dict(depth_path=path, img_shape=(480, 640)))


def evaluate(model, dataset):
    metric = SSCMetric()
    metric.dataset_meta = dataset.metainfo
    model.eval()
    with torch.no_grad():
        outputs = model.val_step(pseudo_collate([dataset[0]]))
    metric.process({}, [o.to_dict() for o in outputs])
    return outputs, metric.compute_metrics(metric.results)


@pytest.mark.parametrize('level', ['feature', 'image'])
def test_nyu_config_trains_and_evaluates(nyu_root, level):
    """Two training iterations of a batch of 2 and a validation pass, on a
    1:12 grid (20 x 12 x 20; CRP at 5 x 3 x 5) to keep the CPU time low."""
    torch.manual_seed(0)
    grid = (20, 12, 20)
    _, model_cfg, datasets = tiny_cfg(nyu_root, level, grid)
    model = MODELS.build(model_cfg)
    assert isinstance(model.virtual_stereo, virtual_stereo.VirtualStereo)
    assert model.virtual_stereo.level == level
    train_set = DATASETS.build(datasets['train'])
    optim = OptimWrapper(
        torch.optim.AdamW(model.parameters(), lr=1e-3),
        clip_grad=dict(max_norm=35))
    model.train()
    for _ in range(2):
        losses = model.train_step(
            pseudo_collate([train_set[0], train_set[1]]), optim)
        assert set(losses) - {'loss'} == {
            'loss_ce', 'loss_sem_scal', 'loss_geo_scal', 'loss_frustum',
            'loss_relation'
        }
        assert all(torch.isfinite(v) for v in losses.values())
    outputs, scores = evaluate(model, DATASETS.build(datasets['test']))
    assert outputs[0].pred_occ.shape == grid
    assert 'IoU_ceiling' in scores and 0 <= scores['mIoU'] <= 100


def test_nyu_config_predicts_the_benchmark_grid(nyu_root):
    cfg, model_cfg, datasets = tiny_cfg(nyu_root)
    assert model_cfg['grid_size'] == GRID
    assert model_cfg['occ_head']['variant'] == 'nyu'
    assert model_cfg['project_scale'] == 1
    assert model_cfg['occ_head']['num_classes'] == 12
    assert model_cfg['depth_head'] is None
    assert model_cfg['virtual_stereo']['baseline'] == \
        cfg.train_dataloader.dataset.virtual_baseline
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    outputs, scores = evaluate(model, DATASETS.build(datasets['test']))
    assert outputs[0].pred_occ.shape == GRID
    assert set(scores) >= {'SC_IoU', 'mIoU', 'IoU_objects'}


def test_nyu_transforms_are_registered():
    for name in ('LoadNYULabels', 'LoadNYUDepth'):
        assert TRANSFORMS.get(name) is not None
    assert DATASETS.get('NYUv2SSCDataset') is NYUv2SSCDataset
    assert MODELS.get('VirtualStereo') is virtual_stereo.VirtualStereo
