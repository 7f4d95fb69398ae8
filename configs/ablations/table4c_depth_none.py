# Paper Table 4(c), row "w/o Depth": 45.03 IoU / 15.30 mIoU (Table 3 "Ours
# w/o Depth Distillation"). table4c_depth_stereo.py without depth maps, so
# without the distillation loss.
_base_ = ['./table4c_depth_stereo.py']

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
