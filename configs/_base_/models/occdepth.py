# OccDepth for SemanticKITTI (paper Sec. 3): stereo Stereo-SFA + OAD with
# stereo-depth distillation, 3D UNet with CRP and the decoupled head.
# The scene geometry and the feature width are set once, on the model, which
# hands them to its parts (a part may not set them).
num_classes = 20
sfa_scales = (1, 2, 4, 8)

# 1 / ln(f + 0.001) of the SemanticKITTI training frequencies
# (docs/reference-notes.md, Losses and class weights)
# at full precision: the losses compute them from the frequency tables of
# datasets/label_maps.py (named_class_weights)
class_weights = 'semantickitti'
occ_class_weights = 'semantickitti_occupancy'

model = dict(
    type='OccDepth',
    data_preprocessor=dict(
        type='SSCDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375]),
    grid_size=(256, 256, 32),
    voxel_size=0.2,
    voxel_origin=(0.0, -25.6, -2.0),
    project_scale=2,  # SFA / OAD on 128 x 128 x 16 voxels of 0.4 m
    feature_channels=64,
    num_views=2,
    depth_scale=100.0,
    backbone=dict(
        type='EfficientNetUNet2D',
        arch='b7',
        out_scales=sfa_scales,
        share_gradient=False,
        # on for CPU tensors, per device otherwise (models/utils/memory_format)
        channels_last='auto'),
    view_transformer=dict(
        type='StereoSFA', scales=sfa_scales, fusion='cosine'),
    depth_head=dict(
        type='OADepthHead',
        mid_channels=128,
        depth_bound=(2.0, 54.0, 0.5),
        discretization='LID',
        feature_stride=8,
        target_binning='same',
        loss_depth=dict(type='DepthBCELoss', loss_weight=1.0)),
    occ_head=dict(
        type='SSCHead',
        num_classes=num_classes,
        variant='kitti',
        context_prior=True,
        n_relations=4,
        decoupled=True,
        channels_last='auto',
        # the losses of MonoScene and OccDepth (paper Sec. 3.5)
        loss_ce=dict(
            type='SSCCrossEntropyLoss',
            class_weight=class_weights,
            loss_weight=1.0),
        loss_sem_scal=dict(type='SemScalLoss', loss_weight=1.0),
        loss_geo_scal=dict(type='GeoScalLoss', loss_weight=1.0),
        loss_frustum=dict(
            type='FrustumProportionLoss', frustum_size=8, loss_weight=1.0),
        loss_relation=dict(type='ContextRelationLoss', loss_weight=1.0),
        loss_occ=dict(
            type='OccupancyLoss',
            class_weight=occ_class_weights,
            loss_weight=1.0)))

# Every parameter gets a gradient in every training step: DDP need not search
# the graph for unused ones.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=False)
