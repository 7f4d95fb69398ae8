# Paper Table 3, row "Ours w/o Stereo-SFA": 42.99 IoU / 14.11 mIoU.
# table3_wo_oad.py with the stereo views fused "by a naive average operator"
# (Sec. 4.3.1) instead of the cosine-weighted Stereo-SFA.
_base_ = ['./table3_wo_oad.py']

model = dict(view_transformer=dict(fusion='mean'))
