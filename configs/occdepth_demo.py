# The embedded demo (`make demo`): the full OccDepth architecture (stereo
# Stereo-SFA + OAD with depth distillation, CRP, decoupled head, all losses)
# at CPU size, trained on the synthetic SemanticKITTI-format dataset written
# by tools/create_synthetic_kitti.py.
_base_ = [
    './_base_/datasets/synthetic_kitti.py', './_base_/models/occdepth.py',
    './_base_/schedules/adamw_30e.py', './_base_/default_runtime.py'
]

# the output grid of the model and of the data (SFA / OAD: 64 x 64 x 8)
dataset_geometry = dict(
    grid_size=(128, 128, 16), voxel_size=0.4, voxel_origin=(0.0, -25.6, -2.0))

model = dict(
    **dataset_geometry,
    feature_channels=16,
    backbone=dict(arch='b0', share_gradient=True),
    depth_head=dict(mid_channels=32))

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
