# Paper Table 3, row "Ours w/o OAD": 44.97 IoU / 14.63 mIoU.
# table3_wo_depth_distillation.py without the OAD module: the Stereo-SFA
# volume goes to the 3D UNet unweighted (the released config
# multicam_flosp_crp_cascadecls_a100, "flosp").
_base_ = ['./table3_wo_depth_distillation.py']

model = dict(depth_head=None)
