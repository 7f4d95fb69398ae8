from .hooks import LossWeightDecayHook
from .visualization_hook import SSCVisualizationHook

__all__ = ['LossWeightDecayHook', 'SSCVisualizationHook']
