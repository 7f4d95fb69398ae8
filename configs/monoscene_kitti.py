# MonoScene (Cao and de Charette, CVPR 2022) on SemanticKITTI, the monocular
# baseline of the paper's Tables 1 and 3 (val 37.12 IoU / 11.50 mIoU in Table
# 3): the left image only (image_2), FLoSP lifting (the Stereo-SFA of a single
# view; the fusion setting is unused), no OAD and no depth distillation, 3D
# UNet with CRP and the plain segmentation head (no occupancy branch, hence no
# occupancy loss), EfficientNet-B7 with C = 64, all MonoScene losses (CE,
# sem_scal, geo_scal, frustum proportion, relation). MonoScene's schedule
# (docs/reference-notes.md, Schedules): AdamW 1e-4 / 1e-4, MultiStepLR [20]
# x0.1, 30 epochs, no gradient clipping, 1 sample per GPU on 4 GPUs with
# SyncBN. The encoder starts from geffnet's tf_efficientnet_b7_ns, as in
# MonoScene, converted once by tools/convert_backbone.py (see README, Initial
# weights; nothing is downloaded at run time). Unlike MonoScene's code, the
# camera extrinsics include P2's baseline offset (docs/reference-notes.md,
# Camera extrinsics).
_base_ = [
    './_base_/datasets/semantickitti.py', './_base_/models/occdepth.py',
    './_base_/schedules/adamw_30e.py', './_base_/default_runtime.py'
]

num_views = 1
# the parent's pipeline without the depth maps (`_base_` is the merged base
# config inside a config file)
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'LoadStereoDepth'
]
train_dataloader = dict(
    dataset=dict(
        num_views=num_views, depth_root=None, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(num_views=num_views))
test_dataloader = val_dataloader

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/tf_efficientnet_b7_ns.pth')),
    num_views=num_views,
    depth_head=None,
    # the plain head: no occupancy branch, hence no occupancy loss
    occ_head=dict(decoupled=False, loss_occ=None))

optim_wrapper = dict(optimizer=dict(lr=1e-4), clip_grad=None)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=30,
        by_epoch=True,
        milestones=[20],
        gamma=0.1)
]

sync_bn = 'torch'
