# Paper Table 4(a) (stereo fusion methods, SemanticKITTI val), row
# "Stereo-SFA": 42.60 IoU / 13.15 mIoU. Sec. 4.3.2: "2D U-Net based on
# pre-trained EfficientNet-B3 ... with feature channels 24". The paper says
# nothing else about this table; the fusion is isolated as in Table 3's
# "w/o OAD" row (table3_wo_oad.py: Stereo-SFA, no OAD, no distillation, no
# TMO, CRP and decoupled head on, both views trained) at B3 / C = 24.
_base_ = ['./table3_wo_oad.py']

model = dict(
    feature_channels=24,
    backbone=dict(
        arch='b3',
        init_cfg=dict(
            # tools/convert_backbone.py of timm / geffnet tf_efficientnet_b3_ns
            checkpoint='checkpoints/tf_efficientnet_b3_ns.pth')))
