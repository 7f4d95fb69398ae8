# OccDepth for SemanticKITTI (paper Sec. 3): stereo Stereo-SFA + OAD with
# stereo-depth distillation, 3D UNet with CRP and the decoupled head.
num_classes = 20
grid_size = (256, 256, 32)
voxel_size = 0.2
voxel_origin = (0.0, -25.6, -2.0)
project_scale = 2  # SFA / OAD grid = output grid / 2 (128 x 128 x 16)
feature = 64
sfa_scales = (1, 2, 4, 8)

# 1 / ln(f + 0.001) of the SemanticKITTI training frequencies (reference §7)
class_weights = [
    0.04461708, 0.06033372, 0.08519951, 0.08557781, 0.07473958, 0.07342448,
    0.08012932, 0.07964536, 0.08176919, 0.05574878, 0.06527310, 0.05675503,
    0.06832815, 0.05600435, 0.06034849, 0.05296357, 0.06878050, 0.05738673,
    0.07164864, 0.07862047
]
occ_class_weights = [0.04461708, 0.05046751]

model = dict(
    type='OccDepth',
    data_preprocessor=dict(
        type='SSCDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375]),
    grid_size=grid_size,
    voxel_size=voxel_size,
    voxel_origin=voxel_origin,
    depth_scale=100.0,
    backbone=dict(
        type='EfficientNetUNet2D',
        arch='b7',
        out_channels=feature,
        out_scales=sfa_scales,
        share_gradient=False,
        channels_last=True),
    view_transformer=dict(
        type='StereoSFA',
        grid_size=tuple(n // project_scale for n in grid_size),
        voxel_size=voxel_size * project_scale,
        voxel_origin=voxel_origin,
        scales=sfa_scales,
        fusion='cosine',
        in_channels=feature,
        num_views=2),
    depth_head=dict(
        type='OADepthHead',
        in_channels=feature,
        mid_channels=128,
        depth_bound=(2.0, 54.0, 0.5),
        discretization='LID',
        grid_size=tuple(n // project_scale for n in grid_size),
        voxel_size=voxel_size * project_scale,
        voxel_origin=voxel_origin,
        feature_stride=8,
        target_binning='same',
        loss_weight=1.0),
    occ_head=dict(
        type='SSCHead',
        in_channels=feature,
        num_classes=num_classes,
        variant='kitti',
        grid_size=tuple(n // project_scale for n in grid_size),
        project_scale=project_scale,
        context_prior=True,
        n_relations=4,
        decoupled=True,
        class_weights=class_weights,
        occ_class_weights=occ_class_weights,
        frustum_size=8,
        channels_last=True))

# The DDR bottlenecks build their stride-2 shortcut convs at stride 1 too
# (reference §6.1), unused there: DDP must tolerate parameters without grad.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
