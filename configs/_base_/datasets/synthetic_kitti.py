# The embedded synthetic SemanticKITTI-format dataset written by
# tools/create_synthetic_kitti.py (same layout as the real benchmark, smaller
# images): sequences 00-01 train, 08 held out for validation.
_base_ = ['./semantickitti.py']

data_root = 'data/synthetic_kitti'
depth_root = 'data/synthetic_kitti/depth'
crop_size = (96, 320)

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
test_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadSSCLabels', downsample_factors=(8, )),
    dict(type='PackSSCInputs'),
]

train_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        depth_root=depth_root,
        split=None,
        sequences=['00', '01'],
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        split=None,
        sequences=['08'],
        pipeline=test_pipeline))
test_dataloader = val_dataloader
