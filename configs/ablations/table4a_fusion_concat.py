# Paper Table 4(a), row "Concat": 41.30 IoU / 13.10 mIoU. Sec. 4.3.2:
# "concatenating the left 2D feature and right 2D feature followed by a 1:2
# downsampling": here the two views' voxel features (2C channels) are
# reduced to C by a learnt 1x1x1 convolution. table4a_fusion_stereo_sfa.py
# with fusion='concat'.
_base_ = ['./table4a_fusion_stereo_sfa.py']

model = dict(view_transformer=dict(fusion='concat'))
