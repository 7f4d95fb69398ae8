# Paper Table 3, row "Ours w/o TMO": 45.05 IoU / 15.80 mIoU (the same
# numbers as Table 4(c) "Stereo Depth"). table3_full.py without the tricks
# against over-fitting of Sec. 3.5: no loss-weight decay hook and the plain
# colour jitter of the released code (no blur, grayscale or hue). The 2D
# pre-training trick cannot be removed: its instance-segmentation weights
# are not public, both rows start from ImageNet weights.
_base_ = ['./table3_full.py']

crop_size = (370, 1220)
train_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadSSCLabels', downsample_factors=(8, )),
    dict(type='LoadStereoDepth', crop_size=crop_size),
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = []
