# SSCBench-KITTI-360 SSC, stereo (image_00 + image_01 data_rect), read from
# the benchmark's raw layout (projects/OccDepth/occdepth/datasets/
# kitti360.py): data_root is the KITTI-360 folder holding calibration/ and
# data_2d_raw/. Train drives 00, 02-05, 07, 10; val 06; test 09.
# LiDAR depth maps of both views for the distillation, written by
#   python tools/create_data.py kitti360-lidar-depth \
#       --data-root data/kitti360/KITTI-360 --out-dir data/kitti360/lidar_depth
# (needs data_3d_raw/ velodyne scans).
dataset_type = 'Kitti360SSCDataset'
data_root = 'data/kitti360/KITTI-360'
depth_root = 'data/kitti360/lidar_depth'
# Full 376 x 1408 images, no crop: the benchmark's MonoScene loader uses the
# whole image (img[:376, :1408] in kitti_360_dataset.py of ai4ce/SSCBench),
# and a top-left crop keeps the intrinsics, so nothing is gained by cutting
# the right part of the field of view that the 51.2 m grid still covers.
crop_size = None
# the benchmark's grid: 256 x 256 x 32 voxels of 0.2 m from (0, -25.6, -2)
# in the velodyne frame, as SemanticKITTI
dataset_geometry = dict(
    grid_size=(256, 256, 32), voxel_size=0.2, voxel_origin=(0.0, -25.6, -2.0))

train_pipeline = [
    dict(type='LoadStereoImages', crop_size=crop_size),
    dict(type='LoadKitti360Labels'),
    dict(type='LoadStereoDepth', crop_size=crop_size, num_views=2),
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
    dict(type='LoadKitti360Labels'),
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
# the benchmark's test drive 09 (labels are public)
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))

# class names from the dataset's metainfo (19 classes); 255 is ignored,
# and so are the .invalid voxels (set to 255 by LoadKitti360Labels)
val_evaluator = dict(type='SSCMetric')
test_evaluator = val_evaluator
