# The embedded synthetic SemanticKITTI-format dataset written by
# tools/create_synthetic_kitti.py (same layout as the real benchmark, smaller
# images): sequences 00-01 train, 08 held out for validation.
_base_ = ['./semantickitti.py']

data_root = 'data/synthetic_kitti'
depth_root = 'data/synthetic_kitti/depth'
crop_size = (96, 320)

# The SemanticKITTI pipelines at this crop size (`_base_` is the merged base
# config inside a config file).
plain_train_pipeline = [
    dict(t, crop_size=crop_size) if 'crop_size' in t else t
    for t in _base_.plain_train_pipeline
]
train_pipeline = plain_train_pipeline
test_pipeline = [
    dict(t, crop_size=crop_size) if 'crop_size' in t else t
    for t in _base_.test_pipeline
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
