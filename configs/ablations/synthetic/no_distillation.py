# Synthetic benchmark, row "no distillation" (paper Table 4(c) "w/o Depth"):
# full.py trained without depth maps, so OAD learns only through the SSC
# losses. The held-out frames keep theirs, to score the depth head.
_base_ = ['./full.py']

# the parent's pipeline without the depth maps (`_base_` is the merged base
# config inside a config file)
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'LoadStereoDepth'
]
train_dataloader = dict(dataset=dict(depth_root=None, pipeline=train_pipeline))
