"""The whole OccDepth model at a CPU-test size: every part, every loss."""
import copy

import numpy as np
import pytest
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config

import projects.OccDepth.occdepth  # noqa: F401

IMG_HW = (48, 160)
GRID = (32, 32, 16)  # output grid; SFA / OAD at 16 x 16 x 8
VOXEL = 1.6  # KITTI's 51.2 x 51.2 m ground extent
ORIGIN = (0.0, -25.6, -2.0)


def small_model_cfg(**changes) -> dict:
    """The base model at this size; the model hands its grid and width to
    its parts (SFA / OAD: 16 x 16 x 8 voxels of 3.2 m, C = 8)."""
    cfg = Config.fromfile('configs/_base_/models/occdepth.py').model
    cfg = copy.deepcopy(cfg.to_dict())
    cfg.update(
        grid_size=GRID,
        voxel_size=VOXEL,
        voxel_origin=ORIGIN,
        feature_channels=8)
    cfg['backbone'].update(arch='b0')
    cfg['depth_head'].update(mid_channels=16)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def kitti_like_samples(batch: int, num_views: int = 2, seed: int = 0):
    """Data samples with a scaled KITTI stereo rig and random labels."""
    rng = np.random.default_rng(seed)
    f = 707.0912 * IMG_HW[1] / 1220
    k = np.array([[f, 0, IMG_HW[1] / 2], [0, f, IMG_HW[0] / 2], [0, 0, 1]])
    velo2cam = np.array(
        [[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
        dtype=np.float64)
    right = velo2cam.copy()
    right[0, 3] = -0.54
    lidar2cam = np.stack([velo2cam, right][:num_views])
    samples = []
    for i in range(batch):
        flip = i % 2 == 1
        ida = np.eye(3)
        if flip:
            ida = np.array([[-1.0, 0, IMG_HW[1] - 1], [0, 1, 0], [0, 0, 1]])
        s = Det3DDataSample(
            metainfo=dict(
                cam2img=np.stack([k] * num_views),
                lidar2cam=lidar2cam,
                ida_mat=ida,
                img_shape=IMG_HW,
                voxel_origin=ORIGIN,
                voxel_size=VOXEL,
                sequence='00',
                frame_id=f'{i:06d}'))
        gt = rng.integers(0, 20, size=GRID).astype(np.uint8)
        gt[rng.random(GRID) < 0.1] = 255
        s.gt_occ = torch.from_numpy(gt)
        s.gt_occ_crp = torch.from_numpy(
            rng.integers(0, 20,
                         size=tuple(n // 8 for n in GRID)).astype(np.uint8))
        s.gt_depth = torch.from_numpy(
            rng.uniform(0, 40, size=IMG_HW).astype(np.float32))
        samples.append(s)
    return samples


def make_batch(batch: int = 2, num_views: int = 2, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    imgs = [
        torch.randint(0, 256, (num_views, 3, *IMG_HW),
                      generator=gen).to(torch.uint8) for _ in range(batch)
    ]
    return dict(
        inputs=dict(imgs=imgs),
        data_samples=kitti_like_samples(batch, num_views, seed))


def run_loss(model, batch):
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    return losses


FULL_LOSSES = {
    'loss_ce', 'loss_sem_scal', 'loss_geo_scal', 'loss_frustum',
    'loss_relation', 'loss_occ', 'loss_depth'
}


def test_full_model_every_loss_gets_gradient(device):
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg()).to(device)
    model.train()
    losses = run_loss(model, make_batch())
    assert set(losses) == FULL_LOSSES
    for name, value in losses.items():
        assert torch.isfinite(value) and value.item() > 0, name
    for part in ('backbone', 'view_transformer', 'depth_head', 'occ_head'):
        module = getattr(model, part)
        grads = [
            p.grad for p in module.parameters()
            if p.requires_grad and p.grad is not None
        ]
        if any(True for _ in module.parameters()):
            assert grads and any(g.abs().sum() > 0 for g in grads), part


@pytest.mark.parametrize('change,expected', [
    (dict(view_transformer=dict(fusion='mean')), FULL_LOSSES),
    (dict(view_transformer=dict(fusion='concat')), FULL_LOSSES),
    (dict(depth_head=None), FULL_LOSSES - {'loss_depth'}),
    (dict(occ_head=dict(context_prior=False, loss_relation=None)),
     FULL_LOSSES - {'loss_relation'}),
    (dict(occ_head=dict(decoupled=False, loss_occ=None)),
     FULL_LOSSES - {'loss_occ'}),
])
def test_ablation_variants_train(change, expected):
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg(**change))
    assert set(run_loss(model, make_batch())) == expected


def test_single_view_is_monoscene_flosp():
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg(num_views=1))
    losses = run_loss(model, make_batch(num_views=1))
    assert set(losses) == FULL_LOSSES


def test_predict_and_tensor_modes():
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg())
    model.eval()
    batch = make_batch()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        out = model(**data, mode='predict')
        logits = model(**data, mode='tensor')
    assert logits.shape == (2, 20, *GRID)
    for sample, sample_logits in zip(out, logits):
        assert sample.pred_occ.shape == GRID
        assert sample.pred_occ.dtype == torch.long
        assert torch.equal(sample.pred_occ, sample_logits.argmax(0))


def test_model_hands_its_geometry_and_width_to_its_parts():
    model = MODELS.build(small_model_cfg())
    assert model.backbone.out_convs['1_8'].out_channels == 8
    # projected grid: 16 x 16 x 8 voxels of 3.2 m from the same origin; the
    # first voxel centre is origin + 1.6 m on every axis
    first = torch.tensor([1.6, -24.0, -0.4])
    for part in (model.view_transformer, model.depth_head):
        assert part.grid_size == (16, 16, 8)
        assert part.voxel_centers.shape[0] == 16 * 16 * 8
        assert torch.allclose(part.voxel_centers[0].float(), first)
    assert model.depth_head.reduce_conv[0].in_channels == 8
    head = model.occ_head
    assert head.process_l1[0].main[0].conv1.in_channels == 8
    assert head.CP_mega_voxels.size == (4, 4, 2)  # ceil(16 x 16 x 8 / 4)
    # project_scale 2: the UNet upsamples 16 x 16 x 8 back to the output
    assert head.up_l1_lfull.main[0].stride == (2, 2, 2)
    assert not hasattr(model.view_transformer, 'reduce')  # cosine: no weights


@pytest.mark.parametrize('views,virtual,lifted', [(2, False, 2), (1, False, 1),
                                                  (1, True, 2)])
def test_concat_fusion_gets_width_and_view_count(views, virtual, lifted):
    change = dict(num_views=views, view_transformer=dict(fusion='concat'))
    if virtual:
        change['virtual_stereo'] = dict(type='VirtualStereo', baseline=0.1)
    model = MODELS.build(small_model_cfg(**change))
    assert model.view_transformer.num_views == lifted
    assert model.view_transformer.reduce.weight.shape == (8, 8 * lifted, 1, 1,
                                                          1)


@pytest.mark.parametrize('part,key,value', [
    ('backbone', 'out_channels', 12),
    ('view_transformer', 'grid_size', (32, 32, 16)),
    ('view_transformer', 'voxel_size', 1.6),
    ('depth_head', 'in_channels', 16),
    ('depth_head', 'voxel_origin', (0.0, 0.0, 0.0)),
    ('occ_head', 'in_channels', 16),
    ('occ_head', 'grid_size', (32, 32, 16)),
    ('occ_head', 'project_scale', 1),
])
def test_a_part_contradicting_the_model_is_an_error(part, key, value):
    with pytest.raises(ValueError, match=rf'{part}\.{key} = .* contradicts'):
        MODELS.build(small_model_cfg(**{part: {key: value}}))


def test_a_part_may_restate_the_model_value():
    model = MODELS.build(
        small_model_cfg(
            backbone=dict(out_channels=8),
            view_transformer=dict(
                grid_size=[16, 16, 8], voxel_size=3.2, voxel_origin=ORIGIN),
            occ_head=dict(in_channels=8, project_scale=2)))
    assert model.view_transformer.grid_size == (16, 16, 8)


def test_model_geometry_is_validated():
    with pytest.raises(ValueError, match='divisible by project_scale 2'):
        MODELS.build(small_model_cfg(grid_size=(32, 32, 15)))
    model = MODELS.build(small_model_cfg(num_views=1))
    data = model.data_preprocessor(make_batch(num_views=2), True)
    with pytest.raises(ValueError, match='takes 1 image view'):
        model(**data, mode='loss')


def test_view_count_mismatch_is_reported():
    model = MODELS.build(small_model_cfg())
    batch = make_batch(num_views=2)
    for s in batch['data_samples']:
        s.set_metainfo(dict(cam2img=s.metainfo['cam2img'][:1]))
    data = model.data_preprocessor(batch, True)
    with pytest.raises(ValueError, match='view'):
        model(**data, mode='loss')


def test_losses_stay_fp32_under_autocast(amp):
    """Mixed precision: the losses are computed in fp32.

    Under autocast the network runs in ``amp.dtype`` (bf16 on the CPU, fp16
    and bf16 on CUDA: tests/conftest.py); every loss must then equal the
    fp32 computation on the same (upcast) outputs, and stay within a few
    percent of the fp32 network's losses (bf16 rounds each product to 2**-9
    relative; through ~30 layers the logits move by 2-5 %, the averaged
    losses by < 5 %; fp16 rounds 8x finer). The relation loss is only
    checked for finiteness there: at this size a handful of positive pairs
    with pos_weight ~ #negatives / #positives dominate it, and the bf16
    network's own 2-5 % error on the CRP logits moves it by ~15 %.
    """
    dtype, dev = amp.dtype, amp.device
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg()).to(dev)
    model.train()
    reference = copy.deepcopy(model)
    data = model.data_preprocessor(make_batch(), True)
    expected = reference(**copy.deepcopy(data), mode='loss')
    with amp.autocast():
        losses = model(**data, mode='loss')
    assert set(losses) == FULL_LOSSES
    for name, value in losses.items():
        assert value.dtype == torch.float32, name
        assert torch.isfinite(value), name
        if name != 'loss_relation':
            rel = abs(value.item() - expected[name].item()) / expected[name]
            assert rel < 0.05, f'{name}: {value.item()} vs fp32 ' \
                               f'{expected[name].item()}'
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        if param.grad is not None:
            assert torch.isfinite(param.grad).all(), name

    # the SSC losses of low-precision outputs, with and without autocast
    head = model.occ_head
    with amp.autocast():
        outputs = head(torch.randn(2, 8, 16, 16, 8, device=dev))
    assert outputs['ssc_logits'].dtype == dtype
    samples = kitti_like_samples(2)
    gt_occ = torch.stack([s.gt_occ for s in samples]).to(dev)
    gt_crp = torch.stack([s.gt_occ_crp for s in samples]).to(dev)
    cells = torch.randint(-1, 64, (2, 2, gt_occ[0].numel()), device=dev)
    with amp.autocast():
        mixed = head.loss(outputs, gt_occ, gt_crp, cells)
    plain = head.loss({
        k: v.detach().float()
        for k, v in outputs.items()
    }, gt_occ, gt_crp, cells)
    for name, value in mixed.items():
        assert value.dtype == torch.float32, name
        assert torch.allclose(value, plain[name], rtol=1e-5), name
