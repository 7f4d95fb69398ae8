# OccDepth's schedule (docs/reference-notes.md, Schedules): AdamW 2e-4 / 1e-4
# on every parameter, step decay x0.4 at epochs 18 and 24, 30 epochs, grad clip
# 35.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=30,
        by_epoch=True,
        milestones=[18, 24],
        gamma=0.4)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The paper trains with 4 GPUs x 1 sample.
auto_scale_lr = dict(enable=False, base_batch_size=4)
