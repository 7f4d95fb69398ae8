"""3D UNet, CRP and SSC head: structure, shapes, gradients and losses."""
import pytest
import torch

from projects.OccDepth.occdepth.models.losses import ssc_losses
from projects.OccDepth.occdepth.models.occ_heads import (
    Bottleneck3D, CPMegaVoxels, SegmentationHeadCascade, SSCHead)

KITTI_GRID = (16, 16, 8)
NYU_GRID = (12, 8, 12)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny 3D convs run far faster on one thread of a busy 2-core CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_labels(shape, num_classes, gen):
    labels = torch.randint(0, num_classes, shape, generator=gen)
    labels[torch.rand(shape, generator=gen) < 0.1] = 255
    return labels


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def _check_gradients(head):
    """Every parameter has a finite, non-zero gradient (DDP runs with
    ``find_unused_parameters=False``)."""
    for name, param in head.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_bottleneck_keys_and_downsampling():
    block = Bottleneck3D(8, 2)
    keys = set(block.state_dict())
    # the skip branches run only when striding: not built at stride 1
    assert not any(k.startswith('downsample') for k in keys), sorted(keys)
    assert block(torch.randn(2, 8, 4, 4, 4)).shape == (2, 8, 4, 4, 4)
    strided = Bottleneck3D(
        8, 2, stride=2, expansion=4, downsample=torch.nn.AvgPool3d(2))
    keys = set(strided.state_dict())
    for name in ('downsample2', 'downsample3', 'downsample4'):
        assert f'{name}.1.weight' in keys and f'{name}.2.running_var' in keys
    assert strided(torch.randn(2, 8, 4, 4, 4)).shape == (2, 8, 2, 2, 2)
    with pytest.raises(ValueError, match='identity residual'):
        Bottleneck3D(8, 2, stride=2)


def test_kitti_state_dict_names():
    head = SSCHead(8, 20, grid_size=KITTI_GRID)
    keys = set(head.state_dict())
    for key in ('process_l1.0.main.2.conv5.weight',
                'process_l1.1.main.downsample4.2.running_mean',
                'process_l1.1.main.downsample.1.weight',
                'process_l2.1.main.bn5.num_batches_tracked',
                'up_13_l2.main.0.bias', 'up_12_l1.main.1.weight',
                'up_l1_lfull.main.0.weight', 'ssc_head.conv0.bias',
                'ssc_head.conv1.2.weight', 'ssc_head.bn2.0.running_var',
                'ssc_head.occ_classes.weight', 'ssc_head.conv_classes.bias',
                'CP_mega_voxels.mega_context.0.weight',
                'CP_mega_voxels.context_prior_logits.3.0.bias',
                'CP_mega_voxels.aspp.conv2.1.weight',
                'CP_mega_voxels.resize.0.weight',
                'CP_mega_voxels.resize.1.main.0.conv1.weight'):
        assert key in keys, key
    # class weights are not part of the checkpoint
    assert not any('class_weights' in k for k in keys)
    # nor the reference's never-run skips of the stride-1 bottlenecks
    assert 'process_l1.0.main.0.downsample4.2.running_mean' not in keys


def test_kitti_forward_backward_every_parameter(precision):
    """fp32 and autocast (the head's output is in the autocast dtype, its
    losses in fp32), on every device."""
    gen = torch.Generator().manual_seed(0)
    head = SSCHead(
        8,
        20,
        grid_size=KITTI_GRID,
        loss_ce=dict(
            type='SSCCrossEntropyLoss', class_weight=[0.05] + [1.0] * 19),
        loss_sem_scal=dict(type='SemScalLoss'),
        loss_geo_scal=dict(type='GeoScalLoss'),
        loss_frustum=dict(type='FrustumProportionLoss', frustum_size=8),
        loss_relation=dict(type='ContextRelationLoss'),
        loss_occ=dict(type='OccupancyLoss', class_weight=[0.05, 2.0]))
    dev = precision.device
    head.to(dev)
    x = torch.randn(2, 8, *KITTI_GRID, generator=gen).to(dev)
    with precision.autocast():
        out = head(x)
    assert out['ssc_logits'].dtype == (precision.dtype or torch.float32)
    assert out['ssc_logits'].shape == (2, 20, 32, 32, 16)
    assert out['occ_logits'].shape == (2, 2, 32, 32, 16)
    # CRP at (4, 4, 2): M = 2 * 2 * 1 super-voxels, N = 32 voxels
    assert out['relation_logits'].shape == (2, 4, 4, 32)
    gt = _random_labels((2, 32, 32, 16), 20, gen)
    gt_1_8 = _random_labels((2, 4, 4, 2), 20, gen)
    cells = torch.randint(-1, 64, (2, 2, 32 * 32 * 16), generator=gen)
    with precision.autocast():
        losses = head.loss(out, gt.to(dev), gt_1_8.to(dev), cells.to(dev))
    assert set(losses) == {
        'loss_ce', 'loss_sem_scal', 'loss_geo_scal', 'loss_frustum',
        'loss_relation', 'loss_occ'
    }
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert head.uses_frustum_cells
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    _check_gradients(head)


def test_nyu_forward_backward_every_parameter():
    gen = torch.Generator().manual_seed(1)
    head = SSCHead(
        8,
        12,
        variant='nyu',
        grid_size=NYU_GRID,
        project_scale=1,
        n_relations=2,
        decoupled=False,
        loss_ce=dict(
            type='SSCCrossEntropyLoss', class_weight=[0.05] + [1.0] * 11),
        loss_sem_scal=dict(type='SemScalLoss'),
        loss_geo_scal=dict(type='GeoScalLoss'),
        loss_relation=dict(type='ContextRelationLoss'))
    x = torch.randn(1, 8, *NYU_GRID, generator=gen)
    out = head(x)
    assert out['ssc_logits'].shape == (1, 12, *NYU_GRID)
    assert 'occ_logits' not in out
    # CRP at (3, 2, 3) (odd axes: padding 0): M = 1, N = 18
    assert out['relation_logits'].shape == (1, 2, 1, 18)
    gt = _random_labels((1, *NYU_GRID), 12, gen)
    gt_1_4 = _random_labels((1, 3, 2, 3), 12, gen)
    losses = head.loss(out, gt, gt_1_4, None)
    assert set(losses) == {
        'loss_ce', 'loss_sem_scal', 'loss_geo_scal', 'loss_relation'
    }
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    _check_gradients(head)


def test_loss_terms_match_functions_and_weights():
    gen = torch.Generator().manual_seed(2)
    weights = [0.5, 1.0, 2.0]
    head = SSCHead(
        4,
        3,
        variant='nyu',
        project_scale=1,
        context_prior=False,
        loss_ce=dict(
            type='SSCCrossEntropyLoss', class_weight=weights, loss_weight=2.0),
        loss_occ=dict(
            type='OccupancyLoss', class_weight=[0.3, 0.7], loss_weight=0.5))
    logits = torch.randn(1, 3, 4, 4, 4, generator=gen)
    occ = torch.randn(1, 2, 4, 4, 4, generator=gen)
    gt = _random_labels((1, 4, 4, 4), 3, gen)
    losses = head.loss(dict(ssc_logits=logits, occ_logits=occ), gt)
    assert set(losses) == {'loss_ce', 'loss_occ'}
    assert not head.uses_frustum_cells
    assert torch.allclose(losses['loss_ce'],
                          2 * ssc_losses.ce_ssc_loss(logits, gt, weights))
    assert torch.allclose(losses['loss_occ'],
                          0.5 * ssc_losses.occupancy_loss(occ, gt, [0.3, 0.7]))
    with pytest.raises(ValueError, match='gt_occ of shape'):
        head.loss(dict(ssc_logits=logits), gt[:, :3])


def test_decoupled_head_sees_occupancy_probabilities():
    torch.manual_seed(3)
    head = SegmentationHeadCascade(4, 4, 5).eval()
    assert head.occ_classes.out_channels == 2
    assert head.conv_classes.in_channels == 4 + 2
    x = torch.randn(1, 4, 5, 5, 5)
    with torch.no_grad():
        ssc, occ = head(x)
        feat = head.aspp(head.relu(head.conv0(x)))
        manual = head.conv_classes(torch.cat([feat, occ.softmax(dim=1)], 1))
        assert torch.allclose(ssc, manual, atol=1e-6)
        # a change of the occupancy conv alone changes the semantic logits
        # (a shift of both occupancy logits would not change the softmax)
        head.occ_classes.bias[1] += 1.0
        ssc2, occ2 = head(x)
    assert not torch.allclose(occ, occ2)
    assert (ssc - ssc2).abs().max() > 1e-4


def test_crp_shapes_and_validation():
    crp = CPMegaVoxels(8, (5, 3, 4), n_relations=2)
    out, logits = crp(torch.randn(2, 8, 5, 3, 4))
    assert out.shape == (2, 8, 5, 3, 4)
    # M = 2 * 1 * 2 super-voxels, N = 60 voxels
    assert logits.shape == (2, 2, 4, 60)
    assert crp.resize[0].in_channels == 8 * 2 * 2 + 8
    with pytest.raises(ValueError, match='built for'):
        crp(torch.randn(1, 8, 4, 3, 4))
    with pytest.raises(ValueError, match='at least'):
        CPMegaVoxels(8, (4, 4, 1))


def test_kitti_project_scale_1_keeps_size():
    head = SSCHead(8, 4, project_scale=1, context_prior=False, decoupled=False)
    assert head.up_l1_lfull.main[0].stride == (1, 1, 1)
    out = head(torch.randn(1, 8, 8, 8, 4))
    assert out['ssc_logits'].shape == (1, 4, 8, 8, 4)
    assert set(out) == {'ssc_logits'}


def test_with_cp_matches_plain():
    torch.manual_seed(4)
    plain = SSCHead(8, 5, grid_size=(8, 8, 8))
    ckpt = SSCHead(8, 5, grid_size=(8, 8, 8), with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(1, 8, 8, 8, 8)
    grads = []
    for model in (plain, ckpt):
        out = model(x)
        (out['ssc_logits'].square().mean() + out['occ_logits'].mean() +
         out['relation_logits'].mean()).backward()
        grads.append([p.grad for p in model.parameters()])
    for g0, g1 in zip(*grads):
        assert (g0 is None) == (g1 is None)
        if g0 is not None:
            assert torch.allclose(g0, g1, rtol=1e-4, atol=1e-6)
    # the recomputation leaves the BN running statistics alone
    for (name, a), b in zip(ckpt.named_buffers(), plain.buffers()):
        assert torch.equal(a, b), name


def test_parameter_count_kitti():
    # reference: 4.36M for the released KITTI 3D network (C = 32)
    head = SSCHead(32, 20, grid_size=(128, 128, 16))
    assert round(_n_params(head) / 1e6, 2) == 4.36


def test_invalid_arguments():
    with pytest.raises(ValueError, match='variant'):
        SSCHead(8, 20, variant='kitti360', context_prior=False)
    with pytest.raises(ValueError, match='project_scale must be 1'):
        SSCHead(8, 12, variant='nyu', context_prior=False)
    with pytest.raises(ValueError, match='grid_size'):
        SSCHead(8, 20)
    with pytest.raises(ValueError, match='20 class weights'):
        SSCHead(
            8,
            20,
            context_prior=False,
            loss_ce=dict(type='SSCCrossEntropyLoss', class_weight=[1.0]))


def test_missing_loss_inputs_raise():
    head = SSCHead(
        8,
        3,
        grid_size=(8, 8, 8),
        n_relations=2,
        loss_frustum=dict(type='FrustumProportionLoss'),
        loss_relation=dict(type='ContextRelationLoss'))
    out = head(torch.randn(1, 8, 8, 8, 8))
    gt = torch.zeros(1, 16, 16, 16, dtype=torch.long)
    cells = torch.zeros(1, 1, 16**3, dtype=torch.long)
    with pytest.raises(ValueError, match='frustum_cells'):
        head.loss(out, gt, torch.zeros(1, 2, 2, 2, dtype=torch.long), None)
    with pytest.raises(ValueError, match='gt_occ_crp'):
        head.loss(out, gt, None, cells)
