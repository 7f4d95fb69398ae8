"""VirtualStereo: the synthesised right view is where the right camera is."""
import numpy as np
import pytest
import torch

from projects.OccDepth.occdepth.models.utils import geometry
from projects.OccDepth.occdepth.models.view_transformers import virtual_stereo

VirtualStereo = virtual_stereo.VirtualStereo

H, W = 8, 48
F_PX = 60.0
BASELINE = 0.1


def intrinsics(focal=F_PX, batch=1):
    k = torch.tensor([[focal, 0, W / 2, 0], [0, focal, H / 2, 0], [0, 0, 1, 0],
                      [0, 0, 0, 1]],
                     dtype=torch.float64)
    return k.expand(batch, 4, 4).clone()


def flip_ida(batch=1):
    return torch.from_numpy(geometry.horizontal_flip_matrix(W)).expand(
        batch, 3, 3).clone()


def ramp(batch=1, channels=1):
    """Image whose value is its column index (any shift reads exactly)."""
    cols = torch.arange(W, dtype=torch.float32)
    return cols.expand(batch, 1, channels, H, W).clone()


def texture(seed=0):
    """A smooth random pattern along u (bilinear reads it exactly enough
    to locate it)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(W // 4 + 2, generator=gen)
    u = torch.arange(W, dtype=torch.float32) / 4
    i0 = u.floor().long()
    t = u - i0
    row = coarse[i0] * (1 - t) + coarse[i0 + 1] * t
    return row.expand(1, 1, 3, H, W).clone()


def warp(level, *args):
    """``VirtualStereo(level, BASELINE).warp(*args)``."""
    return VirtualStereo(level, BASELINE).warp(*args)


def plane(depth, batch=1):
    return torch.full((batch, H, W), float(depth))


def measured_shift(reference, shifted, max_shift=12):
    """Sub-pixel shift ``s`` with ``shifted(u) ~ reference(u + s)`` (SSD
    minimum over a fine grid of candidate shifts, interior columns)."""
    ref = reference[0, 0, 0, 0].double().numpy()
    sig = shifted[0, 0, 0, 0].double().numpy()
    cols = np.arange(max_shift, W - max_shift)
    candidates = np.arange(-max_shift, max_shift, 0.01)
    errors = [
        np.square(np.interp(cols + s, np.arange(W), ref) - sig[cols]).sum()
        for s in candidates
    ]
    return candidates[int(np.argmin(errors))]


@pytest.mark.parametrize('depth', [2.0, 3.7, 6.0])
def test_image_level_plane_shifts_by_fb_over_z(depth):
    vs = VirtualStereo('image', BASELINE)
    x = texture()
    out = vs(x, plane(depth), intrinsics())
    assert out.shape == (1, 2, 3, H, W)
    torch.testing.assert_close(out[:, 0], x[:, 0])
    disparity = F_PX * BASELINE / depth  # right view: u_R = u_L - d
    shift = measured_shift(x, out[:, 1:])
    assert abs(shift - disparity) < 0.5
    # with a linear ramp the read is exact: V(u) = u + d inside the view
    virtual, valid = vs.warp(ramp(), plane(depth), intrinsics())
    inside = torch.arange(W) < W - 1 - disparity
    assert valid[0, 0, 0][inside].all()
    expected = torch.arange(W, dtype=torch.float32) + disparity
    torch.testing.assert_close(
        virtual[0, 0, 0, 0][inside], expected[inside], atol=1e-4, rtol=0)
    # the strip the real camera never saw is filled and flagged
    assert not valid[0, 0, 0, -1]


@pytest.mark.parametrize('depth', [2.0, 3.7])
def test_feature_level_gives_the_same_shift(depth):
    disparity = F_PX * BASELINE / depth
    image_level = VirtualStereo('image', BASELINE)(texture(), plane(depth),
                                                   intrinsics())
    feature_level = VirtualStereo('feature', BASELINE)(texture(), plane(depth),
                                                       intrinsics())
    assert abs(measured_shift(texture(), feature_level[:, 1:]) -
               disparity) < 0.5
    cols = slice(0, W - 4)
    torch.testing.assert_close(
        feature_level[..., cols], image_level[..., cols], atol=1e-4, rtol=0)


def test_feature_level_stride_scales_the_disparity():
    depth = 2.0  # 3 px at full resolution -> 1.5 px on the stride-2 map
    vs = VirtualStereo('feature', BASELINE)
    feat = torch.arange(
        W // 2, dtype=torch.float32).expand(1, 1, 2, H // 2, W // 2)
    out = vs(feat, plane(depth), intrinsics(), stride=2)
    assert out.shape == (1, 2, 2, H // 2, W // 2)
    torch.testing.assert_close(out[0, 1, 0, 0, :10],
                               torch.arange(10, dtype=torch.float32) + 1.5)


def test_feature_level_gradient_reaches_the_features():
    feat = torch.randn(1, 1, 4, H, W, requires_grad=True)
    out = VirtualStereo('feature', BASELINE)(feat, plane(3.0), intrinsics())
    out[:, 1].sum().backward()
    assert feat.grad.abs().sum() > 0


def test_virtual_view_matches_the_shifted_camera_projection():
    """A textured plane seen by the real camera, warped: the virtual pixel
    of a 3D point (projected with ``shift_camera``) shows its colour."""
    depth = 2.5
    k = intrinsics()[0]
    lidar2cam = geometry.shift_camera(np.eye(4), BASELINE)
    for level in ('image', 'feature'):
        virtual = VirtualStereo(level, BASELINE)(ramp(), plane(depth),
                                                 intrinsics())[0, 1, 0]
        for x_cam in (-0.8, -0.1, 0.3):
            point = torch.tensor([[x_cam, 0.0, depth]])
            mats = torch.stack([
                geometry.build_lidar2img(k, torch.eye(4, dtype=k.dtype)),
                geometry.build_lidar2img(k, torch.from_numpy(lidar2cam))
            ])[None]
            uv, _ = geometry.project_points(point, mats)
            u_left, u_right = uv[0, 0, 0, 0].item(), uv[0, 1, 0, 0].item()
            assert u_left - u_right == pytest.approx(F_PX * BASELINE / depth)
            col = int(round(u_right))
            # the ramp's value is the real column: V(col) = col + d
            assert virtual[0, col].item() == pytest.approx(
                col + u_left - u_right, abs=1e-4)


def test_z_buffer_and_disocclusion_fill_from_the_background(device):
    # background at 6 m (d = 1 px), a foreground strip at 1.5 m (d = 4 px)
    depth = plane(6.0)
    depth[:, :, 20:26] = 1.5
    virtual, valid = warp('image',
                          ramp().to(device), depth.to(device), intrinsics())
    row, mask = virtual[0, 0, 0, 0].cpu(), valid[0, 0, 0].cpu()
    # the strip lands 4 px left (value = its real column) and hides the
    # background there
    torch.testing.assert_close(row[16:22],
                               torch.arange(20, 26, dtype=torch.float32))
    # the background around it moves 1 px
    torch.testing.assert_close(row[:16],
                               torch.arange(1, 17, dtype=torch.float32))
    torch.testing.assert_close(row[25:47],
                               torch.arange(26, 48, dtype=torch.float32))
    # columns 23, 24 were hidden behind the strip in the real view:
    # disoccluded, filled from the background side (the right neighbour,
    # real column 26), not from the nearer strip on the left
    assert mask[:23].all() and not mask[23:25].any() and mask[25:47].all()
    torch.testing.assert_close(row[22:25], torch.full((3, ), 26.0))


def test_flipped_sample_warps_the_other_way(device):
    """The images and depth on the device, the matrices on the host (as
    OccDepth passes them)."""
    depth = plane(6.0)
    depth[:, :, 20:26] = 1.5
    depth = depth.to(device)
    ida = flip_ida()
    for level in ('image', 'feature'):
        virtual, _ = warp(level, ramp().to(device), depth, intrinsics(), ida)
        row = virtual[0, 0, 0, 0]
        # in the flipped image the right camera sees content moved right
        assert row[10].item() == pytest.approx(9.0, abs=1e-4)
        assert row[40].item() == pytest.approx(39.0, abs=1e-4)
    virtual, valid = warp('image', ramp().to(device), depth, intrinsics(), ida)
    row, mask = virtual[0, 0, 0, 0].cpu(), valid[0, 0, 0].cpu()
    torch.testing.assert_close(row[24:30],
                               torch.arange(20, 26, dtype=torch.float32))
    # the disocclusion is now left of the strip, filled from its left side
    assert not mask[22:24].any() and mask[1:22].all() and mask[24:].all()
    torch.testing.assert_close(row[21:24], torch.full((3, ), 20.0))
    # the strip the real camera never saw is at the left border now
    assert not mask[0]


def test_each_sample_uses_its_own_focal_length():
    focal = torch.tensor([60.0, 120.0], dtype=torch.float64)
    k = intrinsics(batch=2)
    k[:, 0, 0] = focal
    depth = plane(4.0, batch=2)
    for level in ('image', 'feature'):
        virtual, _ = warp(level, ramp(batch=2), depth, k)
        for i in range(2):
            d = focal[i].item() * BASELINE / 4.0
            assert virtual[i, 0, 0, 0, 5].item() == pytest.approx(
                5 + d, abs=1e-4)


def test_pixels_without_depth_are_not_splatted():
    depth = plane(3.0)  # d = 2 px
    depth[:, :, 10:12] = 0
    virtual, valid = warp('image', ramp(), depth, intrinsics())
    # column 9 could only come from columns 10 and 11
    assert not valid[0, 0, 0, 9]
    assert valid[0, 0, 0, :9].all() and valid[0, 0, 0, 10:46].all()
    # filled from a neighbour (same depth on both sides: the left one)
    assert virtual[0, 0, 0, 0, 9].item() == pytest.approx(10.0)


def test_invalid_arguments():
    with pytest.raises(ValueError, match='level'):
        VirtualStereo('voxel')
    with pytest.raises(ValueError, match='baseline'):
        VirtualStereo('image', 0.0)
    vs = VirtualStereo('image')
    with pytest.raises(ValueError, match=r'\(B, 1, C, h, w\)'):
        vs(torch.zeros(1, 2, 3, H, W), plane(2.0), intrinsics())
    with pytest.raises(ValueError, match='depth at the size'):
        vs(ramp(), torch.ones(1, H * 2, W * 2), intrinsics())
    shear = torch.eye(3, dtype=torch.float64)[None].clone()
    shear[0, 1, 0] = 0.1
    with pytest.raises(ValueError, match='ida_mat'):
        vs(ramp(), plane(2.0), intrinsics(), shear)
