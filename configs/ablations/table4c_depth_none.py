# Paper Table 4(c), row "w/o Depth": 45.03 IoU / 15.30 mIoU (Table 3 "Ours
# w/o Depth Distillation"). table4c_depth_stereo.py without depth maps, so
# without the distillation loss.
_base_ = ['./table4c_depth_stereo.py']

# the parent's pipeline without the depth maps (`_base_` is the merged base
# config inside a config file)
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'LoadStereoDepth'
]
train_dataloader = dict(dataset=dict(depth_root=None, pipeline=train_pipeline))
