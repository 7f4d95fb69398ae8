# Paper Table 4(b) (depth discretisation of OAD, SemanticKITTI val), row "LID"
# (the paper's choice, Eq. 4). Sec. 4.3.3: "conducted with single-view image
# input, and the small model (EfficientNet-B3) with feature channels 24". The
# rest follows the released config of this experiment, flospdepth_2080ti.yaml
# (docs/reference-notes.md, Released configs): OAD without depth distillation,
# no CRP, plain segmentation head, no TMO. Built on
# table3_wo_depth_distillation.py: left view only, B3 / C = 24, CRP and the
# decoupled head off.
_base_ = ['./table3_wo_depth_distillation.py']

num_views = 1
train_dataloader = dict(dataset=dict(num_views=num_views))
val_dataloader = dict(dataset=dict(num_views=num_views))
test_dataloader = val_dataloader

model = dict(
    feature_channels=24,
    num_views=num_views,
    backbone=dict(
        arch='b3',
        init_cfg=dict(
            # tools/convert_backbone.py of timm / geffnet tf_efficientnet_b3_ns
            checkpoint='checkpoints/tf_efficientnet_b3_ns.pth')),
    # no CRP and the plain head: no relation and no occupancy loss
    occ_head=dict(
        context_prior=False,
        decoupled=False,
        loss_relation=None,
        loss_occ=None))
