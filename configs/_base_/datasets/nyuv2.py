# NYUv2 SSC (RGB-D) read from MonoScene's "depthbin" layout: data_root holds
# NYUtrain/ (795 frames) and NYUtest/ (654), each frame NYUxxxx_xxxx.bin
# (labels + vox_origin + cam_pose), _color.jpg and .png (Kinect depth).
# The depth map is a model input (virtual stereo) at train and test time.
# `python tools/create_data.py nyu --data-root DATA_ROOT --out-dir CACHE`
# writes the pooled labels (60 x 36 x 60 and 15 x 9 x 15) that
# label_cache_root points to; with label_cache_root=None they are decoded
# from the .bin files on the fly (about 1 s per frame).
dataset_type = 'NYUv2SSCDataset'
data_root = 'data/NYU/depthbin'
label_cache_root = 'data/NYU/preprocess'
# output grid: 1:4 of the 240 x 144 x 240 files, 0.08 m voxels, array axes
# world (x, z, y); the dataset folds the axis order and each frame's
# vox_origin into lidar2cam, so the grid frame starts at (0, 0, 0).
dataset_geometry = dict(grid_size=(60, 36, 60), voxel_size=0.08)
# real camera (view 0) + virtual right camera 0.1 m along camera x (view 1)
virtual_baseline = 0.1
# labels at the CRP grid (15 x 9 x 15) relative to the output grid
crp_factor = 4
pack_keys = ('gt_occ', 'gt_occ_crp', 'gt_depth')

train_pipeline = [
    dict(type='LoadStereoImages', crop_size=None),
    dict(type='LoadNYULabels', crp_factor=crp_factor),
    dict(type='LoadNYUDepth', max_depth=10.0),
    dict(
        type='StereoPhotoMetricDistortion',
        brightness=0.4,
        contrast=0.4,
        saturation=0.4,
        hue=0.0,
        blur_prob=0.0,
        grayscale_prob=0.0),
    dict(type='RandomStereoFlip', prob=0.5),
    dict(type='PackSSCInputs', data_keys=pack_keys),
]
test_pipeline = [
    dict(type='LoadStereoImages', crop_size=None),
    dict(type='LoadNYULabels', crp_factor=crp_factor),
    dict(type='LoadNYUDepth', max_depth=10.0),
    dict(type='PackSSCInputs', data_keys=pack_keys),
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
        label_cache_root=label_cache_root,
        split='train',
        virtual_baseline=virtual_baseline,
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
        label_cache_root=label_cache_root,
        split='test',
        virtual_baseline=virtual_baseline,
        pipeline=test_pipeline,
        test_mode=True,
        **dataset_geometry))
test_dataloader = val_dataloader

val_evaluator = dict(type='SSCMetric')
test_evaluator = val_evaluator
