# Paper Table 3, row "MonoScene": 37.12 IoU / 11.50 mIoU, the single-view
# baseline: monoscene_kitti.py unchanged.
_base_ = ['../monoscene_kitti.py']
