# Synthetic benchmark, row "no OAD" (paper Table 3 "w/o OAD"): full.py
# without the OAD depth head, hence without depth maps and distillation.
_base_ = ['./full.py']

# the parent's pipelines without the depth maps (`_base_` is the merged base
# config inside a config file)
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'LoadStereoDepth'
]
test_pipeline = [
    t for t in _base_.test_pipeline if t['type'] != 'LoadStereoDepth'
]
train_dataloader = dict(dataset=dict(depth_root=None, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(depth_root=None, pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(depth_head=None)
