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


def surface_quads(
        grid: np.ndarray,
        occ: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exposed faces of the drawn voxels as quads in voxel-index units.

    Args:
        grid: ``(X, Y, Z)`` integer labels.
        occ: Bool mask of the drawn voxels (:func:`drawn_voxels`).

    Returns:
        tuple: ``corners`` float64 ``(F, 4, 3)`` (corner ``c`` of face ``f``
        at index position ``corners[f, c]``; the corners wind
        counter-clockwise seen from outside, so ``(c1 - c0) x (c3 - c0)``
        points out of the voxel), ``labels`` ``(F,)`` of the face's voxel
        and ``normals`` int ``(F, 3)`` (unit outward normal). Faces are
        ordered by axis (x, y, z), then direction (+, -), then voxel index
        in C order.
    """
    corners, labels, normals = [], [], []
    for axis in range(3):
        ax1, ax2 = face_edges(axis)
        step1, step2 = np.zeros(3), np.zeros(3)
        step1[ax1], step2[ax2] = 1, 1
        for sign in (1, -1):
            idx = np.stack(np.nonzero(exposed_faces(occ, axis, sign)), axis=1)
            corner = idx.astype(np.float64)
            if sign > 0:
                corner[:, axis] += 1
                quad = (0 * step1, step1, step1 + step2, step2)
            else:
                quad = (0 * step1, step2, step1 + step2, step1)
            corners.append(corner[:, None, :] + np.stack(quad)[None])
            labels.append(grid[tuple(idx.T)])
            normal = np.zeros((len(idx), 3), dtype=np.int64)
            normal[:, axis] = sign
            normals.append(normal)
    return (np.concatenate(corners), np.concatenate(labels),
            np.concatenate(normals))


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
