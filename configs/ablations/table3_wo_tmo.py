# Paper Table 3, row "Ours w/o TMO": 45.05 IoU / 15.80 mIoU (the same
# numbers as Table 4(c) "Stereo Depth"). table3_full.py without the tricks
# against over-fitting of Sec. 3.5: no loss-weight decay hook and the plain
# colour jitter of the released code (no blur, grayscale or hue). The 2D
# pre-training trick cannot be removed: its instance-segmentation weights
# are not public, both rows start from ImageNet weights.
_base_ = ['./table3_full.py']

train_pipeline = _base_.plain_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = []
