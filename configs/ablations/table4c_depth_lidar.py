# Paper Table 4(c), row "Lidar Depth": 43.86 IoU / 15.19 mIoU.
# table4c_depth_stereo.py distilled from sparse LiDAR depth maps instead of
# stereo ones. Expected folder, same format as the stereo maps:
# data/semantickitti/lidar_depth/sequences/XX/depth/{frame}.png, the
# velodyne scan sequences/XX/velodyne/{frame}.bin projected into image_2
# with P2 @ Tr (nearest return per pixel), 16-bit PNG of metres * 256,
# 0 where no point lands, at the full image size (cropped like the image).
_base_ = ['./table4c_depth_stereo.py']

depth_root = 'data/semantickitti/lidar_depth'
train_dataloader = dict(dataset=dict(depth_root=depth_root))
