# SemanticKITTI SSC, stereo (image_2 + image_3), read from the official
# layout: data_root holds `sequences/` (the `dataset` folder of the download),
# stereo depth maps for distillation under depth_root/sequences/XX/depth/.
dataset_type = 'SemanticKittiSSCDataset'
data_root = 'data/semantickitti/dataset'
depth_root = 'data/semantickitti/stereo_depth'
crop_size = (370, 1220)
# the benchmark's grid: 256 x 256 x 32 voxels of 0.2 m from (0, -25.6, -2)
dataset_geometry = dict(
    grid_size=(256, 256, 32), voxel_size=0.2, voxel_origin=(0.0, -25.6, -2.0))

# Depth maps for the distillation and the colour jitter of the released
# code. Configs with stronger augmentation set their own train_pipeline;
# this one stays available to their children as plain_train_pipeline.
plain_train_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadSSCLabels'),
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
train_pipeline = plain_train_pipeline
test_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadSSCLabels'),
    dict(type='PackSSCInputs'),
]

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,
    # per-sample seeds: augmentations resume exactly (datasets/seeding.py)
    sampler=dict(type='SeededSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        depth_root=depth_root,
        split='train',
        pipeline=train_pipeline,
        **dataset_geometry))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline,
        test_mode=True,
        **dataset_geometry))
test_dataloader = val_dataloader

val_evaluator = dict(type='SSCMetric')
test_evaluator = val_evaluator
