from . import view_transformers  # noqa: F401
from . import backbones, depth_heads, losses, occ_heads, utils  # noqa: F401
from .data_preprocessor import SSCDataPreprocessor
from .occdepth import OccDepth

__all__ = ['OccDepth', 'SSCDataPreprocessor']
