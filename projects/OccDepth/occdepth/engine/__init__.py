from projects.OccDepth.occdepth.engine.checkpoint_hook import \
    AtomicCheckpointHook
from projects.OccDepth.occdepth.engine.hooks import LossWeightDecayHook
from projects.OccDepth.occdepth.engine.randomness import \
    ResumableRandomnessHook
from projects.OccDepth.occdepth.engine.runner import OccDepthRunner
from projects.OccDepth.occdepth.engine.submission_hook import SSCSubmissionHook
from projects.OccDepth.occdepth.engine.visualization_hook import \
    SSCVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'LossWeightDecayHook', 'OccDepthRunner',
    'ResumableRandomnessHook', 'SSCSubmissionHook', 'SSCVisualizationHook'
]
