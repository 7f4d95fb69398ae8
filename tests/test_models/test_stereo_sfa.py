"""Stereo-SFA: gathering and view fusion checked against hand values."""
import pytest
import torch
from mmdet3d.registry import MODELS

from projects.OccDepth.occdepth.models.utils import geometry
from projects.OccDepth.occdepth.models.view_transformers import StereoSFA

# Three voxels along x with centres x = 0.5, 1.5, 2.5 (grid 3 x 1 x 1, 1 m).
GRID = dict(grid_size=(3, 1, 1), voxel_size=1.0, voxel_origin=(0, 0, 0))
IMG_HW = (1, 2)

# Hand-picked features (C = 3): a, b = left pixels 0 and 1, c = right pixel 0.
A = [1.0, 2.0, 2.0]
B = [4.0, -2.0, 6.0]
C = [2.0, 1.0, 2.0]


def _affine_lidar2img(scale: float, offset: float) -> torch.Tensor:
    """Depth 1 everywhere, u = scale * x + offset, v = 0."""
    mat = torch.zeros(4, 4, dtype=torch.float64)
    mat[0, 0] = scale
    mat[0, 3] = offset
    mat[2, 3] = 1
    mat[3, 3] = 1
    return mat


def _stereo_example(device='cpu'):
    """Left sees voxels 0, 1 (u = 0, 1); right sees voxel 0 only (u = 0).

    Left: u = x - 0.5 -> 0, 1, 2; right: u = 2x - 1 -> 0, 2, 4; W = 2.
    """
    lidar2img = torch.stack(
        [_affine_lidar2img(1, -0.5),
         _affine_lidar2img(2, -1)])[None]
    left = torch.tensor([A, B]).T.reshape(3, 1, 2)
    right = torch.tensor([C, [9.0, 9.0, 9.0]]).T.reshape(3, 1, 2)
    feat = torch.stack([left, right])[None]  # (1, 2, 3, 1, 2)
    return feat.to(device), lidar2img.to(device)


def test_projection_fov_and_pixels():
    _, lidar2img = _stereo_example()
    sfa = StereoSFA(**GRID, scales=(1, ))
    pix, fov = sfa.project(lidar2img, IMG_HW)
    assert pix[0, 0, :, 0].tolist() == [0, 1, 2]
    assert pix[0, 1, :, 0].tolist() == [0, 2, 4]
    assert fov[0].tolist() == [[True, True, False], [True, False, False]]


def test_cosine_fusion_by_hand(device):
    feat, lidar2img = _stereo_example(device)
    sfa = StereoSFA(**GRID, scales=(1, ), fusion='cosine').to(device)
    out = sfa([feat], lidar2img, IMG_HW)
    assert out.shape == (1, 3, 3, 1, 1)
    out = out[0, :, :, 0, 0].T  # (voxel, C)
    # cos(a, c) = (2 + 2 + 4) / (3 * 3) = 8 / 9; (a + c) / 2 = (1.5, 1.5, 2)
    assert out[0].tolist() == pytest.approx([4 / 3, 4 / 3, 16 / 9])
    # left only: b / 2
    assert out[1].tolist() == pytest.approx([2.0, -1.0, 3.0])
    # neither view
    assert out[2].tolist() == [0.0, 0.0, 0.0]


def test_multi_scale_sum_uses_floor_division(device):
    feat, lidar2img = _stereo_example(device)
    # scale 2: a 1 x 1 map per view; both left pixels 0 and 1 read it.
    g_left = torch.tensor([3.0, 0.0, 4.0])
    g_right = torch.tensor([0.0, 5.0, 0.0])
    coarse = torch.stack([g_left, g_right]).reshape(1, 2, 3, 1, 1).to(device)
    sfa = StereoSFA(**GRID, scales=(1, 2)).to(device)
    out = sfa([feat, coarse], lidar2img, IMG_HW)[0, :, :, 0, 0].T
    # voxel 0: scale 1 as above, scale 2: cos(g_l, g_r) = 0 -> adds 0
    assert out[0].tolist() == pytest.approx([4 / 3, 4 / 3, 16 / 9])
    # voxel 1: b / 2 + g_left / 2
    assert out[1].tolist() == pytest.approx([3.5, -1.0, 5.0])
    assert out[2].tolist() == [0.0, 0.0, 0.0]


def test_single_view_is_flosp_passthrough():
    feat, lidar2img = _stereo_example()
    sfa = StereoSFA(**GRID, scales=(1, ))
    out = sfa([feat[:, :1]], lidar2img[:, :1], IMG_HW)[0, :, :, 0, 0].T
    assert out.tolist() == [A, B, [0.0, 0.0, 0.0]]


def test_mean_fusion_by_hand(device):
    feat, lidar2img = _stereo_example(device)
    sfa = StereoSFA(**GRID, scales=(1, ), fusion='mean').to(device)
    out = sfa([feat], lidar2img, IMG_HW)[0, :, :, 0, 0].T
    assert out[0].tolist() == pytest.approx([1.5, 1.5, 2.0])
    assert out[1].tolist() == pytest.approx(B)
    assert out[2].tolist() == [0.0, 0.0, 0.0]


def test_concat_fusion_by_hand(device):
    feat, lidar2img = _stereo_example(device)
    sfa = StereoSFA(
        **GRID, scales=(1, ), fusion='concat', in_channels=3, num_views=2)
    assert sfa.reduce.weight.shape == (3, 6, 1, 1, 1)
    with torch.no_grad():
        eye = torch.eye(3)
        sfa.reduce.weight.copy_(
            torch.cat([eye, 2 * eye], dim=1)[..., None, None, None])
        sfa.reduce.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    sfa.to(device)
    out = sfa([feat], lidar2img, IMG_HW)[0, :, :, 0, 0].T
    # voxel 0: a + 2 c + bias; voxel 1: b + bias; voxel 2: bias
    assert out[0].tolist() == pytest.approx([5.1, 4.2, 6.3])
    assert out[1].tolist() == pytest.approx([4.1, -1.8, 6.3])
    assert out[2].tolist() == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match='built for 2 views'):
        sfa([feat[:, :1]], lidar2img[:, :1], IMG_HW)


def test_gradient_flows_through_cosine_weight(device):
    feat, lidar2img = _stereo_example(device)
    feat = feat.double().requires_grad_()
    sfa = StereoSFA(**GRID, scales=(1, )).to(device)
    out = sfa([feat], lidar2img, IMG_HW)
    out[0, :, 0].sum().backward()  # voxel 0: cos(a, c) * sum(a + c) / 2
    a, c = torch.tensor(A).double(), torch.tensor(C).double()
    cos, total = 8 / 9, (a + c).sum() / 2
    dcos_dc = a / 9 - cos * c / 9  # |a| = |c| = 3
    expected = total * dcos_dc + cos / 2
    assert torch.allclose(feat.grad[0, 1, :, 0, 0].cpu(), expected)
    # the cosine term matters: without it the gradient would be cos / 2
    assert not torch.allclose(expected, torch.full((3, ), cos / 2).double())


def test_cache_is_keyed_on_the_host_matrices_and_the_device():
    """OccDepth passes the host copy of lidar2img: the key is made from it
    (no read-back of the device tensor), and the tables of another device
    are separate entries. The meta device stands in for a GPU: reading a
    meta tensor back raises."""
    feat, lidar2img = _stereo_example()
    sfa = StereoSFA(**GRID, scales=(1, ))
    expected = sfa([feat], lidar2img, IMG_HW)
    assert len(sfa.cache) == 1
    with pytest.raises(NotImplementedError, match='meta'):
        sfa([feat.to('meta')], lidar2img.to('meta'), IMG_HW)
    out = sfa([feat.to('meta')],
              lidar2img.to('meta'),
              IMG_HW,
              host_lidar2img=lidar2img)
    assert out.device.type == 'meta' and out.shape == expected.shape
    assert len(sfa.cache) == 2  # the meta tables are their own entry
    assert torch.equal(
        sfa([feat], lidar2img, IMG_HW, host_lidar2img=lidar2img), expected)
    assert len(sfa.cache) == 2


def test_batch_equals_single_samples():
    torch.manual_seed(0)
    k = torch.tensor([[20.0, 0, 15.5], [0, 20.0, 7.5], [0, 0, 1]],
                     dtype=torch.float64)
    lidar2cam = torch.tensor(
        [[0, -1, 0, 0], [0, 0, -1, 0.2], [1, 0, 0, 0], [0, 0, 0, 1]],
        dtype=torch.float64)
    right = lidar2cam.clone()
    right[0, 3] = -0.5
    lidar2cam = torch.stack([lidar2cam, right])
    flip = torch.as_tensor(geometry.horizontal_flip_matrix(32))
    # sample 0 as is, sample 1 flipped: (2, 2, 4, 4)
    lidar2img = torch.stack([
        geometry.build_lidar2img(k.expand(2, 3, 3), lidar2cam),
        geometry.build_lidar2img(k.expand(2, 3, 3), lidar2cam, flip)
    ])
    img_hw = (16, 32)
    sfa = StereoSFA((6, 8, 2), 0.5, (0.5, -2.0, -0.5), scales=(1, 2, 4, 8))
    feats = [torch.randn(2, 2, 4, 16 // s, 32 // s) for s in (1, 2, 4, 8)]
    out = sfa(feats, lidar2img, img_hw)
    assert out.shape == (2, 4, 6, 8, 2)
    assert out.abs().sum() > 0
    for i in range(2):
        single = sfa([f[i:i + 1] for f in feats], lidar2img[i:i + 1], img_hw)
        assert torch.allclose(out[i:i + 1], single, atol=1e-6)


def test_rejects_small_feature_map():
    feat, lidar2img = _stereo_example()
    sfa = StereoSFA(**GRID, scales=(1, ))
    with pytest.raises(ValueError, match='smaller than'):
        sfa([feat[..., :1]], lidar2img, IMG_HW)
    with pytest.raises(ValueError, match='fusion must be one of'):
        StereoSFA(**GRID, fusion='max')
    with pytest.raises(ValueError, match='needs in_channels'):
        StereoSFA(**GRID, fusion='concat')
    # the reduction's size: concat only, never silently unused
    with pytest.raises(ValueError, match='needs in_channels and num_views'):
        StereoSFA(**GRID, fusion='concat', in_channels=3)
    with pytest.raises(ValueError, match="fusion='cosine' has no weights"):
        StereoSFA(**GRID, in_channels=3)
    with pytest.raises(ValueError, match="fusion='mean' has no weights"):
        StereoSFA(**GRID, fusion='mean', num_views=2)


def test_builds_from_registry():
    sfa = MODELS.build(
        dict(type='StereoSFA', fusion='mean', scales=(1, ), **GRID))
    assert isinstance(sfa, StereoSFA)
    assert sfa.voxel_centers[:, 0].tolist() == [0.5, 1.5, 2.5]
    # no parameters and no state for the parameter-free fusions
    assert not list(sfa.parameters()) and not sfa.state_dict()


def test_cosine_fusion_stays_fp32_under_autocast():
    """bf16 maps from an autocast backbone are fused in fp32: the output
    equals the fp32 fusion of the same (bf16-rounded) values exactly."""
    _, lidar2img = _stereo_example()
    gen = torch.Generator().manual_seed(0)
    feat = torch.randn(1, 2, 64, 1, 2, generator=gen).bfloat16()
    sfa = StereoSFA(**GRID, scales=(1, ), fusion='cosine')
    expected = sfa([feat.float()], lidar2img, IMG_HW)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = sfa([feat], lidar2img, IMG_HW)
    assert out.dtype == torch.float32
    assert torch.equal(out, expected)
