"""Surface of a semantic voxel grid as a coloured PLY mesh.

For interactive viewers (MeshLab, Open3D, Blender, CloudCompare).
"""
import os
from typing import Sequence, Tuple

import numpy as np

from projects.OccDepth.occdepth.datasets.label_maps import (
    IGNORE_INDEX, SEMANTICKITTI_PALETTE)
from projects.OccDepth.occdepth.visualization.voxel_surface import (
    Vec3, as_label_grid, drawn_voxels, palette_array, surface_quads, vec3)


def save_ply(path: str,
             grid: np.ndarray,
             palette: Sequence[Sequence[int]] = SEMANTICKITTI_PALETTE,
             voxel_size: Vec3 = 1.0,
             origin: Vec3 = 0.0,
             ignore_index: int = IGNORE_INDEX,
             binary: bool = True) -> Tuple[int, int]:
    """Write the surface of the labelled voxels as a coloured PLY mesh.

    Every face between a drawn voxel and an empty voxel (or the grid border)
    becomes a quad with outward winding and four vertices of its voxel's
    colour (vertices are not shared, so colours stay flat per face).

    Args:
        path: Output ``.ply`` file; its folder must exist.
        grid: ``(X, Y, Z)`` integer labels (0 and ``ignore_index`` skipped).
        palette: RGB colour per label.
        voxel_size: Edge length(s) in metres.
        origin: Voxel-frame position of the grid's minimum corner.
        ignore_index: Label that is skipped.
        binary: Binary little-endian if True, ASCII otherwise.

    Returns:
        ``(number of vertices, number of faces)``.
    """
    grid = as_label_grid(grid)
    pal = palette_array(palette)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'save_ply: folder {folder} of {path} does '
                                'not exist')
    vsize = vec3(voxel_size)
    org = vec3(origin)
    occ = drawn_voxels(grid, pal, ignore_index)
    corners, labels, _ = surface_quads(grid, occ)
    vertices = (org + corners.reshape(-1, 3) * vsize).astype(np.float32)
    colours = np.repeat(pal[labels].astype(np.uint8), 4, axis=0)
    num_v, num_f = len(vertices), len(vertices) // 4
    header = '\n'.join([
        'ply', f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        'comment OccDepth voxel surface', f'element vertex {num_v}',
        'property float x', 'property float y', 'property float z',
        'property uchar red', 'property uchar green', 'property uchar blue',
        f'element face {num_f}', 'property list uchar int vertex_indices',
        'end_header'
    ]) + '\n'
    faces = np.arange(num_v, dtype=np.int32).reshape(num_f, 4)
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        if binary:
            vdata = np.empty(
                num_v, dtype=[('xyz', '<f4', (3, )), ('rgb', 'u1', (3, ))])
            vdata['xyz'], vdata['rgb'] = vertices, colours
            fdata = np.empty(num_f, dtype=[('n', 'u1'), ('idx', '<i4', (4, ))])
            fdata['n'], fdata['idx'] = 4, faces
            f.write(vdata.tobytes())
            f.write(fdata.tobytes())
        else:
            rows = np.concatenate([vertices, colours], axis=1).tolist()
            lines = [
                '{:.6g} {:.6g} {:.6g} {:.0f} {:.0f} {:.0f}'.format(*row)
                for row in rows
            ]
            lines += ['4 ' + ' '.join(map(str, q)) for q in faces.tolist()]
            f.write(('\n'.join(lines) + '\n').encode('ascii'))
    return num_v, num_f
