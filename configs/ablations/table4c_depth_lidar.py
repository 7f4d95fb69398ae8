# Paper Table 4(c), row "Lidar Depth": 43.86 IoU / 15.19 mIoU.
# table4c_depth_stereo.py distilled from sparse LiDAR depth maps of both
# cameras instead of the left stereo map, like the authors
# (use_lidar_depth_gt: one map per view, each flipped with its image, every
# view supervised). Written by
#   python tools/create_data.py kitti-lidar-depth \
#       --data-root data/semantickitti/dataset \
#       --out-dir data/semantickitti/lidar_depth
# as depth_root/sequences/XX/depth/{frame}.png (image_2) and
# depth_3/{frame}.png (image_3): the velodyne scan projected with P2 @ Tr and
# P3 @ Tr (nearest return per pixel), 16-bit PNG of metres * 256, 0 where no
# point lands, at the size of the image files (cropped like the images).
_base_ = ['./table4c_depth_stereo.py']

depth_root = 'data/semantickitti/lidar_depth'
train_pipeline = [
    dict(t, num_views=2) if t['type'] == 'LoadStereoDepth' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(depth_root=depth_root, pipeline=train_pipeline))
