# Paper Table 3, row "Ours w/o Depth Distillation": 45.03 IoU / 15.29 mIoU
# (Table 4(c) "w/o Depth": 45.03 / 15.30). table3_wo_tmo.py without the
# stereo depth maps: the OAD depth network is trained only through the SSC
# losses (the model computes the distillation loss only for samples that
# carry gt_depth).
_base_ = ['./table3_wo_tmo.py']

# the parent's pipeline without the depth maps (`_base_` is the merged base
# config inside a config file)
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'LoadStereoDepth'
]
train_dataloader = dict(dataset=dict(depth_root=None, pipeline=train_pipeline))
