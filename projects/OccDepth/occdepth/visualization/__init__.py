from projects.OccDepth.occdepth.visualization.comparison import \
    render_comparison
from projects.OccDepth.occdepth.visualization.grid_files import (
    GridStyle, read_grid, style_from_config, style_from_name)
from projects.OccDepth.occdepth.visualization.grid_views import (
    render_grid_views, visualize_files)
from projects.OccDepth.occdepth.visualization.html_viewer import write_html
from projects.OccDepth.occdepth.visualization.ply import save_ply
from projects.OccDepth.occdepth.visualization.voxel_render import render_voxels

__all__ = [
    'GridStyle', 'read_grid', 'render_comparison', 'render_grid_views',
    'render_voxels', 'save_ply', 'style_from_config', 'style_from_name',
    'visualize_files', 'write_html'
]
