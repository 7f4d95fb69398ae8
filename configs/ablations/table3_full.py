# Paper Table 3 (architectural components, SemanticKITTI val), row "Ours":
# 45.25 IoU / 16.20 mIoU. The full model of the paper, occdepth_kitti.py,
# unchanged: Stereo-SFA + OAD + stereo-depth distillation + the tricks
# against over-fitting (TMO), EfficientNet-B7, C = 64.
# The rows of Table 3 are cumulative (the paper's gains in Sec. 4.3.1 are
# differences of consecutive rows): each next file removes one more part.
_base_ = ['../occdepth_kitti.py']
