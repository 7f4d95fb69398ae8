# occdepth_kitti_released.py with the authors' strong image augmentation
# switched on (`use_strong_img_aug: true` in their yaml configs; the released
# model's multicam_flospdepth_crp_stereodepth_cascadecls_2080ti.yaml has it
# off). As `KittiDataset.__getitem__` in the authors'
# occdepth/data/semantic_kitti/kitti_dataset.py, every view after the
# ImageNet normalisation: with p = 0.3 a 3 x 3 Gaussian blur with
# sigma ~ U(0.1, 2); then with p = 0.3 grayscale (p = 0.1) followed by
# erasing (p = 0.5) of a rectangle of 1-2 % of the image, aspect ratio in
# [0.3, 3], filled with 0 (the mean colour). No hue jitter. On normalised
# tensors, so they run as batch augmentations of the data preprocessor
# (models/batch_augments.py).
_base_ = ['./occdepth_kitti_released.py']

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='BatchGaussianBlur',
            prob=0.3,
            kernel_size=3,
            sigma=(0.1, 2.0)),
        dict(
            type='BatchRandomApply',
            prob=0.3,
            transforms=[
                dict(type='BatchGrayscale', prob=0.1),
                dict(
                    type='BatchErasing',
                    prob=0.5,
                    scale=(0.01, 0.02),
                    ratio=(0.3, 3.0),
                    value=0.0)
            ])
    ]))
