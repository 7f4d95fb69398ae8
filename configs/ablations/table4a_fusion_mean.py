# Paper Table 4(a), row "Mean": 39.64 IoU / 12.39 mIoU. Sec. 4.3.2: "the
# average value of left 2D feature and right 2D feature is assigned to
# corresponding voxel". table4a_fusion_stereo_sfa.py with fusion='mean'.
_base_ = ['./table4a_fusion_stereo_sfa.py']

model = dict(view_transformer=dict(fusion='mean'))
