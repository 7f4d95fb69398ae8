"""Voxel-grid helpers shared by the renderer and the PLY writer.

Checks of label grids and palettes, and the exposed faces of the drawn
voxels (a face is exposed when the neighbouring voxel in its direction is
empty or outside the grid).
"""
from typing import Sequence, Tuple, Union

import numpy as np

Vec3 = Union[float, Sequence[float]]


def as_label_grid(grid: np.ndarray, name: str = 'grid') -> np.ndarray:
    """Validate an integer ``(X, Y, Z)`` label grid."""
    grid = np.asarray(grid)
    if grid.ndim != 3:
        raise ValueError(f'{name} must be a 3D (X, Y, Z) label grid, got '
                         f'shape {grid.shape}')
    if not np.issubdtype(grid.dtype, np.integer):
        raise ValueError(f'{name} must hold integer labels, got {grid.dtype}')
    return grid


def drawn_voxels(grid: np.ndarray, palette: np.ndarray,
                 ignore_index: int) -> np.ndarray:
    """Mask of drawn voxels; labels must index the palette."""
    occ = (grid > 0) & (grid != ignore_index)
    if occ.any():
        top = int(grid[occ].max())
        if top >= len(palette) or int(grid[occ].min()) < 0:
            raise ValueError(f'grid holds label {top} but the palette has '
                             f'only {len(palette)} colours')
    return occ


def exposed_faces(occ: np.ndarray, axis: int, sign: int) -> np.ndarray:
    """Occupied voxels whose neighbour along ``sign * axis`` is empty."""
    neighbour = np.zeros_like(occ)
    src = [slice(None)] * 3
    dst = [slice(None)] * 3
    if sign > 0:
        src[axis], dst[axis] = slice(1, None), slice(None, -1)
    else:
        src[axis], dst[axis] = slice(None, -1), slice(1, None)
    neighbour[tuple(dst)] = occ[tuple(src)]
    return occ & ~neighbour


def face_edges(axis: int) -> Tuple[int, int]:
    """The two in-plane axes of a face, cyclic so ``e1 x e2 = +axis``."""
    return (axis + 1) % 3, (axis + 2) % 3


def palette_array(palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Palette as an ``(N, 3)`` float array."""
    pal = np.asarray(palette, dtype=np.float64)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f'palette must be (N, 3) RGB, got {pal.shape}')
    return pal


def vec3(value: Vec3) -> np.ndarray:
    """Broadcast a scalar or 3-sequence to a float ``(3,)`` array."""
    vec = np.broadcast_to(np.asarray(value, dtype=np.float64), (3, ))
    return vec.copy()
