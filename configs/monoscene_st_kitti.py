# "MonoScene^st" of the paper's Table 1 (SemanticKITTI hidden test) and
# Sec. 4.2: "For the monocular-based MonoScene, we fused 3D voxel features by
# average from stereo inputs". Read here as: MonoScene (monoscene_kitti.py,
# schedule included) with both images (image_2, image_3) through the shared
# 2D UNet, each lifted by FLoSP onto the voxels, and the two voxel features
# averaged where both views see the voxel (Stereo-SFA with fusion='mean';
# a voxel seen by one view keeps that view's feature). The paper does not
# say whether the right view is trained; it is (share_gradient=False, as in
# OccDepth's paper setting).
_base_ = ['./monoscene_kitti.py']

num_views = 2
train_dataloader = dict(dataset=dict(num_views=num_views))
val_dataloader = dict(dataset=dict(num_views=num_views))
test_dataloader = val_dataloader

model = dict(num_views=num_views, view_transformer=dict(fusion='mean'))
