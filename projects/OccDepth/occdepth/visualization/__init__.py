from projects.OccDepth.occdepth.visualization.comparison import \
    render_comparison
from projects.OccDepth.occdepth.visualization.ply import save_ply
from projects.OccDepth.occdepth.visualization.voxel_render import render_voxels

__all__ = ['render_comparison', 'render_voxels', 'save_ply']
