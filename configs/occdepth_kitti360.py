# OccDepth on SSCBench-KITTI-360: the setting of occdepth_kitti.py (stereo
# Stereo-SFA with cosine fusion, OAD with LID bins and depth distillation, 3D
# UNet with CRP and the decoupled head, EfficientNet-B7 with C = 64, the
# tricks of Sec. 3.5) on the benchmark's rectified stereo pair
# (image_00 / image_01 data_rect, full 376 x 1408 images) and its 19 classes.
# Train on drives 00, 02-05, 07, 10; validate on 06; test on 09.
#
# Distillation source: KITTI-360 ships no stereo depth maps, so OAD is
# distilled from LiDAR depth maps of both views (the "Lidar Depth" source of
# Table 4(c)), built once from the velodyne scans through the calibration:
#   python tools/create_data.py kitti360-lidar-depth \
#       --data-root data/kitti360/KITTI-360 --out-dir data/kitti360/lidar_depth
# Without the scans, train occdepth_kitti360_no_depth.py (no distillation).
#
# Class weights: 1 / ln(f + 0.001) of the benchmark's training frequencies
# (kitti_360_class_frequencies of ai4ce/SSCBench,
# method/MonoScene/monoscene/data/kitti_360/params.py), as for SemanticKITTI.
# The 2D encoder starts from the converted tf_efficientnet_b7_ns weights
# (see occdepth_kitti.py; --cfg-options model.backbone.init_cfg=None starts
# from random weights).
_base_ = [
    './_base_/datasets/kitti360.py', './_base_/models/occdepth.py',
    './_base_/schedules/adamw_30e.py', './_base_/default_runtime.py'
]

num_classes = 19
# the stronger augmentation of occdepth_kitti.py (Sec. 3.5)
strong_aug = dict(
    hue=0.1,
    blur_prob=0.3,
    blur_kernel_size=3,
    blur_sigma=(0.1, 2.0),
    grayscale_prob=0.03)
train_pipeline = [
    dict(t, **strong_aug) if t['type'] == 'StereoPhotoMetricDistortion' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/tf_efficientnet_b7_ns.pth')),
    occ_head=dict(
        num_classes=num_classes,
        loss_ce=dict(class_weight='kitti360'),
        loss_occ=dict(class_weight='kitti360_occupancy')))

custom_hooks = [
    dict(
        type='LossWeightDecayHook',
        loss_names=('occ_head.loss_sem_scal', ),
        min_factor=0.1)
]

# SyncBN across GPUs like the reference (ignored by non-distributed runs).
sync_bn = 'torch'
