# OccDepth on SemanticTartanAir (paper Sec. 4.1, Table 1): stereo Stereo-SFA
# + OAD with distillation from TartanAir's ground-truth left depth, CRP and
# the decoupled head, 14 classes, evaluated on the 120 x 48 x 120 grid of
# 0.1 m voxels. Export the labels first:
#   python tools/create_tartanair_ssc.py --data-root data/tartanair \
#       --out-dir data/tartanair_ssc --scene office --difficulties Easy Hard
_base_ = [
    './_base_/datasets/tartanair.py', './_base_/models/occdepth.py',
    './_base_/schedules/adamw_30e.py', './_base_/default_runtime.py'
]

num_classes = 14
# Reference TartanAir weights: 0.05 for empty, 1 for every class (as NYU);
# occupancy CE weights [0.05, 2] (docs/reference-notes.md, Losses and class
# weights).
class_weights = [0.05] + [1.0] * (num_classes - 1)
occ_class_weights = [0.05, 2.0]

model = dict(
    # the datasets' grid
    grid_size=(120, 48, 120),
    voxel_size=0.1,
    voxel_origin=(-6.0, -3.0, 0.0),
    # The 'kitti' 3D UNet with project_scale 2: SFA / OAD on 60 x 24 x 60
    # voxels of 0.2 m (divisible by 4 for the two stride-2 stages), CRP on
    # 15 x 6 x 15 (= the 1:8 labels), one stride-2 transposed conv back to
    # 120 x 48 x 120.
    project_scale=2,
    backbone=dict(arch='b7', share_gradient=False),
    # Indoor depth range: camera depths of the grid's voxel centres stay
    # below ~12.5 m even with the camera pitched; LID bins of 0.1 m average
    # over [0.1, 12.1] m (D = 120), finest near the camera.
    depth_head=dict(depth_bound=(0.1, 12.1, 0.1), discretization='LID'),
    occ_head=dict(
        num_classes=num_classes,
        variant='kitti',
        context_prior=True,
        n_relations=4,
        loss_ce=dict(class_weight=class_weights),
        loss_occ=dict(class_weight=occ_class_weights)))

# TartanAir schedule (docs/reference-notes.md, Schedules): lr / 10 at epoch
# 20 of 30.
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=30,
        by_epoch=True,
        milestones=[20],
        gamma=0.1)
]
