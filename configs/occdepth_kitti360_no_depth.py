# occdepth_kitti360.py without depth distillation, for users without the
# KITTI-360 velodyne scans: the OAD depth network is trained only through
# the SSC losses (the model computes the distillation loss only for samples
# that carry gt_depth), as ablations/table3_wo_depth_distillation.py.
_base_ = ['./occdepth_kitti360.py']

train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'LoadStereoDepth'
]
train_dataloader = dict(dataset=dict(depth_root=None, pipeline=train_pipeline))
