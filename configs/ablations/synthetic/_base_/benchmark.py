# The synthetic stereo benchmark (tools/create_synthetic_kitti.py --scene
# benchmark; tools/dataset_converters/synthetic_benchmark.py): independent
# scenes with weak layout priors, 128 x 416 stereo images, 64 x 64 x 16
# voxels of 0.3 m from (0, -9.6, -2.4), `.invalid` = unseen by the left
# camera, left depth maps for distillation and for the depth head's accuracy.
# Sequences 00-03 train (12 frames each), 08 is held out (16 frames).
#
# The model is the demo's CPU size (EfficientNet-B0, C = 16, OAD with 32
# channels) with the full OccDepth architecture: Stereo-SFA (cosine) + OAD
# (LID bins) + stereo-depth distillation, CRP, decoupled head, every loss;
# no TMO (plain colour jitter, no loss-weight decay). The variants in this
# folder each change one part of it; every row has this data and schedule.
# Run them with tools/analysis_tools/ablation_study.py, which trains each
# (config, seed) and evaluates on the held-out sequence.
_base_ = [
    '../../../_base_/datasets/semantickitti.py',
    '../../../_base_/models/occdepth.py',
    '../../../_base_/schedules/adamw_30e.py',
    '../../../_base_/default_runtime.py'
]

data_root = 'data/synthetic_benchmark'
depth_root = 'data/synthetic_benchmark/depth'
crop_size = (128, 416)
dataset_geometry = dict(
    grid_size=(64, 64, 16), voxel_size=0.3, voxel_origin=(0.0, -9.6, -2.4))

plain_train_pipeline = [
    dict(t, crop_size=crop_size) if 'crop_size' in t else t
    for t in _base_.plain_train_pipeline
]
train_pipeline = plain_train_pipeline
# the held-out frames carry their depth maps: the ablation study scores the
# depth head's expected depth against them
test_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadSSCLabels'),
    dict(type='LoadStereoDepth', crop_size=crop_size),
    dict(type='PackSSCInputs'),
]

train_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        depth_root=depth_root,
        split=None,
        sequences=['00', '01', '02', '03'],
        pipeline=train_pipeline,
        **dataset_geometry))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        depth_root=depth_root,
        split=None,
        sequences=['08'],
        pipeline=test_pipeline,
        **dataset_geometry))
test_dataloader = val_dataloader

model = dict(
    **dataset_geometry,
    feature_channels=16,
    backbone=dict(arch='b0', share_gradient=True),
    # the camera depths of the grid: 1 to 21 m in 0.5 m steps
    depth_head=dict(mid_channels=32, depth_bound=(1.0, 21.0, 0.5)))

# 2 epochs of 48 frames; the ablation study evaluates once, after training
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[max_epochs - 1],
        gamma=0.4)
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
default_hooks = dict(
    logger=dict(interval=12),
    checkpoint=dict(save_best=None, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
