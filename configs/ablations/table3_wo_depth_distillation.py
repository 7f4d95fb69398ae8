# Paper Table 3, row "Ours w/o Depth Distillation": 45.03 IoU / 15.29 mIoU
# (Table 4(c) "w/o Depth": 45.03 / 15.30). table3_wo_tmo.py without the
# stereo depth maps: the OAD depth network is trained only through the SSC
# losses (the model computes the distillation loss only for samples that
# carry gt_depth).
_base_ = ['./table3_wo_tmo.py']

crop_size = (370, 1220)
train_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadSSCLabels', downsample_factors=(8, )),
    dict(
        type='StereoPhotoMetricDistortion',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.0,
        blur_prob=0.0,
        grayscale_prob=0.0),
    dict(type='RandomStereoFlip', prob=0.5),
    dict(type='PackSSCInputs'),
]
train_dataloader = dict(dataset=dict(depth_root=None, pipeline=train_pipeline))
