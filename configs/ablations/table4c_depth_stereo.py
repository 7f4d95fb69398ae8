# Paper Table 4(c) (depth distillation source, SemanticKITTI val), row
# "Stereo Depth": 45.05 IoU / 15.80 mIoU, the numbers of Table 3 "Ours w/o
# TMO": table3_wo_tmo.py unchanged (B7, C = 64). Stereo depth maps
# (LEAStereo, the released KITTI_Odometry_Stereo_Depth) under
# depth_root/sequences/XX/depth/{frame}.png (16-bit PNG, metres * 256,
# 0 = unknown).
_base_ = ['./table3_wo_tmo.py']
