from projects.OccDepth.occdepth.models.depth_heads.oad_depth_head import \
    OADepthHead

__all__ = ['OADepthHead']
