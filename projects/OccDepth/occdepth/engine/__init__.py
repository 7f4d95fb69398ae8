from .hooks import LossWeightDecayHook

__all__ = ['LossWeightDecayHook']
