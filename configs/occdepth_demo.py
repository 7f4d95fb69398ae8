# The embedded demo (`make demo`): the full OccDepth architecture (stereo
# Stereo-SFA + OAD with depth distillation, CRP, decoupled head, all losses)
# at CPU size, trained on the synthetic SemanticKITTI-format dataset written
# by tools/create_synthetic_kitti.py.
_base_ = [
    './_base_/datasets/synthetic_kitti.py', './_base_/models/occdepth.py',
    './_base_/schedules/adamw_30e.py', './_base_/default_runtime.py'
]

grid_size = (128, 128, 16)
voxel_size = 0.4
voxel_origin = (0.0, -25.6, -2.0)
project_scale = 2
feature = 16
projected = dict(
    grid_size=tuple(n // project_scale for n in grid_size),
    voxel_size=voxel_size * project_scale,
    voxel_origin=voxel_origin)
dataset_geometry = dict(
    grid_size=grid_size, voxel_size=voxel_size, voxel_origin=voxel_origin)

model = dict(
    grid_size=grid_size,
    voxel_size=voxel_size,
    voxel_origin=voxel_origin,
    backbone=dict(arch='b0', out_channels=feature, share_gradient=True),
    view_transformer=dict(in_channels=feature, **projected),
    depth_head=dict(in_channels=feature, mid_channels=32, **projected),
    occ_head=dict(in_channels=feature, grid_size=projected['grid_size']))

train_dataloader = dict(batch_size=1, dataset=dict(**dataset_geometry))
val_dataloader = dict(dataset=dict(**dataset_geometry))
test_dataloader = val_dataloader

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[4],
        gamma=0.4)
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
default_hooks = dict(logger=dict(interval=5))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
