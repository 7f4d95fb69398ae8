# SemanticTartanAir (paper Sec. 4.1), stereo (image_left + image_right) of
# TartanAir's `office` scene, Easy and Hard: train P000-P004 + P006, val/test
# P005, every 5th frame. Images and depth maps are read from the raw
# TartanAir tree (data_root/office/{Easy,Hard}/Pxxx/), the labels and the
# per-frame calibration from the output of tools/create_tartanair_ssc.py
# (label_root/office/{Easy,Hard}/Pxxx/voxels/).
dataset_type = 'TartanAirSSCDataset'
data_root = 'data/tartanair'
label_root = 'data/tartanair_ssc'
tartanair_scene = dict(scene='office', difficulties=('Easy', 'Hard'))
# 120 x 48 x 120 voxels of 0.1 m in the levelled left-camera frame (x right,
# y down, z forward) from (-6, -3, 0); labels are evaluated at this grid.
dataset_geometry = dict(
    grid_size=(120, 48, 120), voxel_size=0.1, voxel_origin=(-6.0, -3.0, 0.0))

# Full 640 x 480 images (no crop); the left ground-truth depth is the
# distillation target. Jitter and flip as the reference TartanAir loader.
train_pipeline = [
    dict(type='LoadStereoImages', crop_size=None),
    dict(type='LoadSSCLabels'),
    dict(type='LoadTartanAirDepth'),
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
    dict(type='LoadStereoImages', crop_size=None),
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
        label_root=label_root,
        split='train',
        pipeline=train_pipeline,
        **tartanair_scene,
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
        label_root=label_root,
        split='val',
        pipeline=test_pipeline,
        test_mode=True,
        **tartanair_scene,
        **dataset_geometry))
test_dataloader = val_dataloader

val_evaluator = dict(type='SSCMetric')
test_evaluator = val_evaluator
