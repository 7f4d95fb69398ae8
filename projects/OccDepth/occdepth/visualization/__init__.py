from .voxel_render import (NYU_CLASSES, NYU_PALETTE, render_comparison,
                           render_voxels, save_ply)

__all__ = [
    'NYU_CLASSES', 'NYU_PALETTE', 'render_comparison', 'render_voxels',
    'save_ply'
]
