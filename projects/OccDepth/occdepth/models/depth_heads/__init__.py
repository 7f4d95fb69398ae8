from .oad_depth_head import OADepthHead

__all__ = ['OADepthHead']
