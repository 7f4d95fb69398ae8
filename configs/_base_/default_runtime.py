default_scope = 'mmdet3d'
# reads checkpoints with clear errors and resumes from the newest loadable one
runner_type = 'OccDepthRunner'
custom_imports = dict(
    imports=['projects.OccDepth.occdepth'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keep the last two checkpoints (for --resume) and the best val mIoU;
    # each is written to a temporary file and renamed into place, and old
    # ones are deleted only after the new one is complete
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        save_last=True,
        save_best='mIoU',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # the sampler seed and the model's RNG follow --resume exactly
    resumable_randomness=dict(type='ResumableRandomnessHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # 'auto': NCCL when the ranks use CUDA devices, gloo otherwise
    # (projects/OccDepth/occdepth/engine/launch.py)
    dist_cfg=dict(backend='auto'))

vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
]
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
# True: load_from must fit the model exactly (tools/test.py sets it unless
# given --allow-partial-load); False: the mismatched keys are logged
strict_load = False
resume = False
randomness = dict(seed=42)
