from .hooks import LossWeightDecayHook
from .submission_hook import SSCSubmissionHook
from .visualization_hook import SSCVisualizationHook

__all__ = ['LossWeightDecayHook', 'SSCSubmissionHook', 'SSCVisualizationHook']
