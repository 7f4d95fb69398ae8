"""OAD depth head: bins, frustum-to-voxel sampling and distillation loss."""
import math

import pytest
import torch
from mmdet3d.registry import MODELS

from projects.OccDepth.occdepth.models.depth_heads import OADepthHead
from projects.OccDepth.occdepth.models.losses.depth_loss import depth_bce_loss
from projects.OccDepth.occdepth.models.utils import geometry

IMG_HW = (16, 32)  # stride 8 -> 2 x 4 depth map
# One voxel centred at the origin of the voxel frame.
ONE_VOXEL = dict(
    grid_size=(1, 1, 1), voxel_size=1.0, voxel_origin=(-0.5, -0.5, -0.5))


def _head(**kwargs):
    cfg = dict(in_channels=4, mid_channels=8, **ONE_VOXEL)
    cfg.update(kwargs)
    return OADepthHead(**cfg)


def _lidar2img(depth: float, cx: float, cy: float, f: float = 8.0):
    """The voxel-frame origin seen at (cx, cy) and camera depth ``depth``."""
    k = torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1]], dtype=torch.float64)
    lidar2cam = torch.tensor(
        [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, depth], [0, 0, 0, 1]],
        dtype=torch.float64)
    return geometry.build_lidar2img(k, lidar2cam)


def test_lid_bins_of_reference():
    # LID (OccDepth paper, Eq. 4), D = 104 over [2, 54] m: the bins of the
    # authors' FlospDepth (docs/reference-notes.md, OAD sampling grid).
    index = torch.tensor([10.0, 20.0, 40.0, 100.0, 104.0])
    depth = geometry.bin_to_depth(index, 'LID', 2.0, 54.0, 104)
    assert depth.tolist() == pytest.approx([2.52, 4.0, 9.81, 50.10, 54.0],
                                           abs=5e-3)
    back = geometry.depth_to_bin(depth, 'LID', 2.0, 54.0, 104)
    assert back.tolist() == pytest.approx(index.tolist(), abs=1e-4)
    head = _head()
    assert head.num_bins == 104
    # 10 m: -0.5 + 0.5 * sqrt(1 + 8 * 8 / (104 / 10920)) = 40.49
    t = geometry.depth_to_bin(torch.tensor(10.0), 'LID', 2, 54, 104)
    assert float(t) == pytest.approx(40.49085, abs=1e-4)
    # UD: 0.5 m bins; SID: log-uniform in 1 + d
    assert float(geometry.depth_to_bin(torch.tensor(10.0), 'UD', 2, 54,
                                       104)) == pytest.approx(16.0)
    mid = math.sqrt(3 * 55) - 1  # geometric middle of 1 + d in [3, 55]
    assert float(geometry.depth_to_bin(torch.tensor(mid), 'SID', 2, 54,
                                       104)) == pytest.approx(52.0)


@pytest.mark.parametrize('mode', ['LID', 'UD', 'SID'])
def test_voxel_reads_probability_of_its_bin(mode, device):
    head = _head(discretization=mode).to(device)
    d = head.num_bins
    # bin k holds the distinct value k + 1 at every pixel
    volume = torch.arange(1, d + 1, dtype=torch.float32)
    volume = volume[:, None, None].expand(d, 2, 4)
    bins = [0, 10, 40, 100, 103]
    # voxels at the centres of those bins, and 0.3 bins below a centre
    index = torch.tensor(
        [k + 0.5 for k in bins] + [40.2, 60.8], dtype=torch.float64)
    depths = geometry.bin_to_depth(index, mode, 2.0, 54.0, d)
    lidar2img = torch.stack([_lidar2img(float(z), 15.5, 7.5)
                             for z in depths])[:, None]
    prob = volume.expand(len(depths), 1, d, 2, 4)
    weight = head.sample_voxels(prob.to(device), lidar2img.to(device), IMG_HW)
    assert weight.shape == (len(depths), 1, 1, 1, 1)
    got = weight.flatten().tolist()
    assert got[:len(bins)] == pytest.approx([k + 1 for k in bins], abs=1e-3)
    # linear in the bin position: bin k's value sits at index k + 0.5
    assert got[len(bins):] == pytest.approx([40.7, 61.3], abs=1e-3)


def test_pixel_maps_to_feature_pixel_centre():
    head = _head(depth_bound=(1.0, 5.0, 1.0), discretization='UD')
    # value = column + 10 * row of the 2 x 4 map, for every bin
    col = torch.arange(4.0)[None, :]
    row = torch.arange(2.0)[:, None]
    volume = (col + 10 * row).expand(4, 2, 4)
    # u = 11.5 -> (11.5 + 0.5) / 8 - 0.5 = 1.0; v = 3.5 -> 0.0
    # u = 19.5 -> 2.0; v = 11.5 -> 1.0
    # u = 13.5 -> 1.25; v = 7.5 -> 0.5
    lidar2img = torch.stack([
        _lidar2img(3.0, 11.5, 3.5),
        _lidar2img(3.0, 19.5, 11.5),
        _lidar2img(3.0, 13.5, 7.5)
    ])[:, None]
    weight = head.sample_voxels(
        volume.expand(3, 1, 4, 2, 4), lidar2img, IMG_HW)
    assert weight.flatten().tolist() == pytest.approx([1.0, 12.0, 6.25])


def test_released_grid_convention():
    # docs/reference-notes.md, OAD sampling grid: column = u * w / (W - 1)
    # - 0.5 feature pixels, row = v * h / (H - 1) - 0.5,
    # bin = idx * D / (D - 1) - 0.5
    head = _head(
        depth_bound=(1.0, 5.0, 1.0),
        discretization='UD',
        grid_convention='released')
    grid = head.sampling_grid(
        _lidar2img(2.5, 15.5, 7.5)[None, None], IMG_HW, (2, 4))
    column, row, bin_pos = grid[0, 0, 0].tolist()
    assert column == pytest.approx(2 * 15.5 / 31 - 1)
    assert row == pytest.approx(2 * 7.5 / 15 - 1)
    assert bin_pos == pytest.approx(2 * 1.5 / 3 - 1)
    with pytest.raises(ValueError, match='grid_convention'):
        _head(grid_convention='other')


def test_coverage_mean_over_views():
    head = _head(depth_bound=(1.0, 5.0, 1.0), discretization='UD')
    prob = torch.empty(1, 2, 4, 2, 4)
    prob[:, 0] = 0.6
    prob[:, 1] = 0.2
    # view 0 at column -0.25 (u = 1.5): 3/4 of the sample is inside
    border = _lidar2img(3.0, 1.5, 7.5)
    inside = _lidar2img(3.0, 15.5, 7.5)
    outside = _lidar2img(3.0, -100.0, 7.5)
    behind = _lidar2img(-3.0, 15.5, 7.5)

    def weight(*mats, views=2):
        lidar2img = torch.stack(mats)[None]
        return float(head.sample_voxels(prob[:, :views], lidar2img, IMG_HW))

    # one view in the image (partly): sample / mask = 0.45 / 0.75
    assert weight(border, outside) == pytest.approx(0.6)
    # a single view is used as sampled: 0.75 * 0.6
    assert weight(border, views=1) == pytest.approx(0.45)
    # both views fully inside: (0.6 + 0.2) / 2
    assert weight(inside, inside) == pytest.approx(0.4)
    # border + inside: (0.45 + 0.2) / (0.75 + 1)
    assert weight(border, inside) == pytest.approx(0.65 / 1.75)
    # not seen at all, or behind the camera
    assert weight(outside, behind) == 0.0


def test_forward_shapes_and_camera_aware_input():
    head = _head(
        grid_size=(4, 3, 2), voxel_size=1.0, voxel_origin=(2.0, -1.5, -1.0))
    head.eval()
    seen = []
    head.mlp.register_forward_pre_hook(lambda m, x: seen.append(x[0]))
    f = 1000 * math.sqrt(2) / 2  # pixel size 1000 * sqrt(2) / f = 2.0
    k = torch.tensor([[f, 0, 15.5], [0, f, 7.5], [0, 0, 1]],
                     dtype=torch.float64)
    cam2img = geometry.to_4x4(k).expand(2, 2, 4, 4)
    # projection with a short focal length so that the voxels are in view
    lidar2img = _lidar2img(0.0, 15.5, 7.5).expand(2, 2, 4, 4)
    feat = torch.randn(2, 2, 4, 2, 4)
    prob, weight = head(feat, cam2img, lidar2img, IMG_HW)
    assert prob.shape == (2, 2, 104, 2, 4)
    assert weight.shape == (2, 1, 4, 3, 2)
    assert torch.allclose(prob.sum(2), torch.ones(2, 2, 2, 4))
    assert seen[0].shape == (4, 1)
    assert torch.allclose(seen[0], torch.full((4, 1), 2.0))
    weight.sum().backward()
    assert head.depth_pred.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('binning,mode,expected', [
    ('same', 'LID', 40),
    ('same', 'UD', 16),
    ('same', 'SID', 46),
    ('uniform', 'LID', 16),
])
def test_constant_depth_target_is_one_hot(binning, mode, expected):
    head = _head(
        discretization=mode,
        target_binning=binning,
        loss_depth=dict(type='DepthBCELoss', loss_weight=2.0))
    gt = torch.full((1, 16, 32), 10.0)
    target = head.depth_targets(gt, (2, 4))
    assert target.shape == (1, 2, 4)
    assert (target == expected).all()
    # a perfect prediction has zero loss
    onehot = torch.zeros(1, 2, 104, 2, 4)
    onehot[:, :, expected] = 1
    assert float(head.loss(onehot, gt)['loss_depth']) == 0.0
    # a uniform prediction: -(log(1/D) + (D-1) log(1-1/D)) per pixel
    uniform = torch.full((1, 2, 104, 2, 4), 1 / 104)
    loss = head.loss(uniform, gt)['loss_depth']
    assert float(loss) == pytest.approx(2 * 5.6395677, rel=1e-5)


def test_targets_min_pool_and_range():
    head = _head(target_binning='uniform')
    gt = torch.full((1, 16, 32), 20.0)
    gt[0, :8, :8] = 0  # block (0, 0): zeros ignored, min of 12 and 10
    gt[0, 3, 4] = 12.0
    gt[0, 6, 1] = 10.0
    gt[0, :8, 8:16] = 0  # block (0, 1): no depth at all
    gt[0, :8, 16:24] = 1.0  # block (0, 2): nearer than 2 m
    gt[0, :8, 24:] = 53.9  # block (0, 3): last bin [53.5, 54)
    gt[0, 8:, 24:] = 60.0  # block (1, 3): beyond the far bound
    target = head.depth_targets(gt, (2, 4))
    assert target[0].tolist() == [[16, -1, -1, 103], [36, 36, 36, -1]]
    lid = _head(target_binning='same').depth_targets(gt, (2, 4))
    assert lid[0].tolist() == [[40, -1, -1, 103], [60, 60, 60, -1]]


def test_targets_resize_nearest():
    head = _head(target_binning='uniform')
    # 12 x 28 -> nearest to 16 x 32: output row r reads row r * 12 // 16
    gt = torch.full((1, 12, 28), 20.0)
    gt[0, 6:] = 4.0  # output rows >= 8 read rows >= 6
    target = head.depth_targets(gt, (2, 4))
    assert target[0].tolist() == [[36] * 4, [4] * 4]


def test_bce_loss_by_hand(device):
    prob = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]],
                        device=device)
    target = torch.tensor([0, 2, -1], device=device)
    # row 0: -(ln .7 + ln .8 + ln .9); row 1: -(ln .9 + ln .9 + ln .8)
    assert float(depth_bce_loss(prob, target)) == pytest.approx(
        (0.6851790 + 0.4338646) / 2, abs=1e-6)
    # no target at all: 0
    assert float(depth_bce_loss(prob, torch.full((3, ), -1,
                                                 device=device))) == 0.0
    if device.type == 'cpu':  # on a GPU the device-side assert is fatal
        with pytest.raises(RuntimeError, match='must be < 3'):
            depth_bce_loss(prob, torch.tensor([0, 3, 1]))


def test_rejects_bad_config():
    with pytest.raises(ValueError, match='discretization'):
        _head(discretization='log')
    with pytest.raises(ValueError, match='target_binning'):
        _head(target_binning='lidar')
    with pytest.raises(ValueError, match='whole steps'):
        _head(depth_bound=(2.0, 54.0, 0.7))
    with pytest.raises(ValueError, match='not the stride-8 map'):
        _head().sample_voxels(
            torch.ones(1, 1, 104, 3, 4),
            _lidar2img(3.0, 1, 1)[None, None], IMG_HW)


def test_builds_from_registry():
    head = MODELS.build(
        dict(
            type='OADepthHead',
            in_channels=32,
            grid_size=(128, 128, 16),
            voxel_size=0.4,
            voxel_origin=(0, -25.6, -2)))
    # reference FlospDepth depth net: 0.99 M parameters
    assert sum(p.numel() for p in head.parameters()) == pytest.approx(
        0.99e6, abs=5e3)


def _two_view_case(device='cpu'):
    head = _head(depth_bound=(2.0, 6.0, 1.0), discretization='UD')
    prob = torch.full((1, 2, 4, 2, 4), 0.25)
    prob[0, 0, :, 0, 0] = torch.tensor([0.7, 0.1, 0.1, 0.1])
    prob[0, 1, :, 1, 3] = torch.tensor([0.1, 0.2, 0.6, 0.1])
    gt = torch.zeros(1, 2, 16, 32)
    gt[0, 0, :8, :8] = 2.5  # view 0, feature pixel (0, 0): bin 0
    gt[0, 1, :8, :8] = 4.5  # view 1, feature pixels (0, 0), (1, 3): bin 2
    gt[0, 1, 8:, 24:] = 4.5
    return head.to(device), prob.to(device), gt.to(device)


def test_loss_pools_the_rows_of_every_supervised_view(precision):
    """On every device, and under autocast (the loss disables it: fp32)."""
    head, prob, gt = _two_view_case(precision.device)
    row0 = -(math.log(0.7) + 3 * math.log(0.9))
    row1 = -(math.log(0.25) + 3 * math.log(0.75))
    row2 = -(math.log(0.6) + math.log(0.9) + math.log(0.8) + math.log(0.9))
    with precision.autocast():
        loss = head.loss(prob, gt)['loss_depth']
    assert loss.dtype == torch.float32
    loss = float(loss)
    # the authors' get_depth_loss: all rows with a target, one mean
    assert loss == pytest.approx((row0 + row1 + row2) / 3, rel=1e-6)
    assert loss != pytest.approx((row0 + (row1 + row2) / 2) / 2, rel=1e-3)


def test_single_depth_map_supervises_view_0_only():
    head, prob, gt = _two_view_case()
    row0 = -(math.log(0.7) + 3 * math.log(0.9))
    for left in (gt[:, 0], gt[:, :1]):  # (B, H, W) or (B, 1, H, W)
        assert float(head.loss(prob, left)['loss_depth']) == pytest.approx(
            row0, rel=1e-6)
    with pytest.raises(ValueError, match='V_gt <= 2'):
        head.loss(prob, gt.repeat(1, 2, 1, 1))
