"""Voxel grid, voxelisation and ray casting of the synthetic generator.

A street (:mod:`~tools.dataset_converters.synthetic_streets`) is voxelised
by vectorised numpy fills on the configured grid, seen from the ego position
of a scan. Rays are cast through the voxels with an exact voxel traversal
that skips empty space (:func:`free_radius`, :func:`cast_rays`); the cameras
and the simulated lidar of
:mod:`~tools.dataset_converters.synthetic_sensors` use them.
"""
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from tools.dataset_converters.synthetic_streets import Primitive, Street

_FREE_RADIUS_CAP = 16


@dataclass
class Grid:
    """A voxel grid in the velodyne frame."""
    size: Tuple[int, int, int]
    voxel_size: float
    origin: Tuple[float, float, float]

    def index_range(self, axis: int, lo: float, hi: float) -> Tuple[int, int]:
        """Voxel indices ``[i0, i1)`` that overlap ``[lo, hi]`` on ``axis``.

        A solid that overlaps a voxel fills it, so thin objects (poles, signs)
        survive coarse grids.
        """
        s, o = self.voxel_size, self.origin[axis]
        i0 = int(np.floor((lo - o) / s + 1e-6))
        i1 = int(np.ceil((hi - o) / s - 1e-6))
        return max(i0, 0), min(max(i1, i0 + 1), self.size[axis])

    def centres(self, axis: int, i0: int, i1: int) -> np.ndarray:
        return self.origin[axis] + (np.arange(i0, i1) + 0.5) * self.voxel_size


def voxelize(street: Street, grid: Grid, ego_x: float,
             scan: int) -> Tuple[np.ndarray, np.ndarray]:
    """Raw labels and object ids of the street seen from ``ego_x``.

    Args:
        street: The street.
        grid: Voxel grid (velodyne frame of the scan).
        ego_x: Street x of the lidar at this scan.
        scan: Scan index (moving cars advance by ``speed * scan``).

    Returns:
        ``labels`` uint16 and ``instances`` int32 arrays of ``grid.size``.
    """
    labels = np.zeros(grid.size, dtype=np.uint16)
    instances = np.zeros(grid.size, dtype=np.int32)
    for prim in street.primitives:
        shift = ego_x - prim.speed * scan
        if prim.shape == 'box':
            x0, x1, y0, y1, z0, z1 = prim.params
        elif prim.shape == 'cylinder':
            cx, cy, r, z0, z1 = prim.params
            x0, x1, y0, y1 = cx - r, cx + r, cy - r, cy + r
        else:
            # 1.2 radii hold the bumpy surface of :func:`_round_mask`
            cx, cy, cz, rx, ry, rz = prim.params
            x0, x1 = cx - 1.2 * rx, cx + 1.2 * rx
            y0, y1 = cy - 1.2 * ry, cy + 1.2 * ry
            z0, z1 = cz - 1.2 * rz, cz + 1.2 * rz
        ranges = [
            grid.index_range(0, x0 - shift, x1 - shift),
            grid.index_range(1, y0, y1),
            grid.index_range(2, z0, z1)
        ]
        if any(i1 <= i0 for i0, i1 in ranges):
            continue
        (i0, i1), (j0, j1), (k0, k1) = ranges
        block = (slice(i0, i1), slice(j0, j1), slice(k0, k1))
        if prim.shape == 'box':
            labels[block] = prim.label
            instances[block] = prim.instance
            continue
        mask = _round_mask(prim, grid, ranges, shift, street.seed)
        labels[block][mask] = prim.label
        instances[block][mask] = prim.instance
    return labels, instances


def _round_mask(prim: Primitive, grid: Grid, ranges: Sequence[Tuple[int, int]],
                shift: float, seed: int) -> np.ndarray:
    """Voxels of a cylinder or ellipsoid inside its index block.

    A voxel belongs to the solid when its centre is inside; the radius is at
    least half a voxel diagonal so that the voxel holding the axis (or the
    centre) is always filled.
    """
    xs, ys, zs = [grid.centres(a, *ranges[a]) for a in range(3)]
    xs = xs[:, None, None]
    ys = ys[None, :, None]
    zs = zs[None, None, :]
    reach = grid.voxel_size / np.sqrt(2.0)
    if prim.shape == 'cylinder':
        cx, cy, r, z0, z1 = prim.params
        r = max(r, reach)
        inside = (xs + shift - cx)**2 + (ys - cy)**2 <= r * r
        return np.broadcast_to(inside, (xs.size, ys.size, zs.size))
    cx, cy, cz, rx, ry, rz = prim.params
    rx, ry, rz = (max(r, reach) for r in (rx, ry, rz))
    dist = (((xs + shift - cx) / rx)**2 + ((ys - cy) / ry)**2 +
            ((zs - cz) / rz)**2)
    limit = 1.0
    if prim.bumpy:
        # Irregular crowns: the radius varies over 0.5 m street cells.
        cells = [
            np.floor(c / 0.5).astype(np.int64) for c in (xs + shift, ys, zs)
        ]
        noise = hash01(seed, prim.instance, *cells)
        limit = (0.8 + 0.35 * noise)**2
    return dist <= limit


def hash01(*keys) -> np.ndarray:
    """Deterministic per-element hash of integer arrays, in ``[0, 1)``."""
    h = np.uint32(0x9E3779B9)
    with np.errstate(over='ignore'):
        for key in keys:
            k = np.asarray(key).astype(np.int64) & 0xFFFFFFFF
            h = _mix(h ^ (k.astype(np.uint32) * np.uint32(0x85EBCA6B)))
    return np.asarray(h, dtype=np.float64) / 4294967296.0


def _mix(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.uint32)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x7FEB352D)
    h = h ^ (h >> np.uint32(15))
    h = h * np.uint32(0x846CA68B)
    return h ^ (h >> np.uint32(16))


def free_radius(occupied: np.ndarray,
                cap: int = _FREE_RADIUS_CAP) -> np.ndarray:
    """Empty-space radius of every voxel, for ray skipping.

    Returns:
        int8 array: -1 on occupied voxels, else the largest ``r <= cap``
        such that every voxel within Chebyshev distance ``r`` is empty.
    """
    radius = np.full(occupied.shape, cap, dtype=np.int8)
    radius[occupied] = -1
    covered = occupied.copy()
    for r in range(cap):
        grown = covered.copy()
        for axis in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(None, -1)
            hi[axis] = slice(1, None)
            src = grown.copy()
            grown[tuple(hi)] |= src[tuple(lo)]
            grown[tuple(lo)] |= src[tuple(hi)]
        radius[grown & ~covered] = r
        covered = grown
    return radius


def cast_rays(radius: np.ndarray, origin: np.ndarray,
              dirs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """First occupied voxel along rays from one origin.

    The traversal is exact (the voxel-crossing walk of Amanatides and Woo),
    and jumps across empty space: from a voxel of radius ``r > 0`` the ray
    advances by ``r`` voxels along its major axis, which cannot leave the
    empty cube around the voxel.

    Args:
        radius: Output of :func:`free_radius` ``(X, Y, Z)``.
        origin: Ray origin in voxel units (``(p - grid_origin) / size``).
        dirs: ``(N, 3)`` directions in voxel units.

    Returns:
        tuple: ``t`` ``(N,)`` float64, the ray parameter (point = origin + t *
        dir) where the ray enters the hit voxel (0 if none), and ``flat``
        ``(N,)`` int64, the C-order index of the hit voxel or -1.
    """
    size = np.array(radius.shape, dtype=np.float64)
    flat_radius = radius.reshape(-1)
    strides = (radius.shape[1] * radius.shape[2], radius.shape[2])
    o = np.asarray(origin, dtype=np.float64)
    d = np.array(dirs, dtype=np.float64).reshape(-1, 3)
    d = np.where(np.abs(d) < 1e-9, np.where(d < 0, -1e-9, 1e-9), d)
    n = len(d)
    t_lo = -o / d
    t_hi = (size - o) / d
    t_in = np.maximum(np.minimum(t_lo, t_hi).max(1), 0.0)
    t_out = np.maximum(t_lo, t_hi).min(1)
    hit_t = np.zeros(n)
    hit_flat = np.full(n, -1, dtype=np.int64)
    ids = np.flatnonzero(t_in < t_out)
    start = np.clip(np.floor(o + d[ids] * t_in[ids, None]), 0, size - 1)
    # State rows: direction (3), voxel (3), t, ray id; float32 is exact for
    # the flat voxel indices of grids below 2 ** 24 voxels and ample for t.
    dtype = np.float32 if radius.size < 2**24 and n < 2**24 else np.float64
    state = np.empty((8, ids.size), dtype=dtype)
    state[0:3] = d[ids].T
    state[3:6] = start.T
    state[6] = t_in[ids]
    state[7] = ids
    oc = o.astype(dtype)[:, None]
    limit = size.astype(dtype)[:, None]
    while state.shape[1]:
        d, v, t = state[0:3], state[3:6], state[6]
        flat = (v[0] * strides[0] + v[1] * strides[1] + v[2]).astype(np.int64)
        r = flat_radius[flat]
        hit = r < 0
        if hit.any():
            rays = state[7, hit].astype(np.int64)
            hit_t[rays] = t[hit]
            hit_flat[rays] = flat[hit]
        positive = d > 0
        t_next = (v + positive - oc) / d
        t_step = t_next.min(0)
        v_step = v + (t_next == t_step) * (positive.astype(dtype) * 2 - 1)
        jump = r > 0
        t_jump = t + r / np.abs(d).max(0)
        v_jump = np.floor(oc + d * t_jump)
        np.copyto(t_step, t_jump, where=jump)
        np.copyto(v_step, v_jump, where=jump)
        keep = ~hit & ((v_step >= 0) & (v_step < limit)).all(0)
        state[3:6] = v_step
        state[6] = t_step
        if not keep.all():
            state = np.compress(keep, state, axis=1)
    return hit_t, hit_flat


def hit_faces(origin: np.ndarray, dirs: np.ndarray, flat: np.ndarray,
              shape: Sequence[int]) -> np.ndarray:
    """Axis (0, 1, 2) of the voxel face through which each ray enters."""
    idx = np.stack(np.unravel_index(flat, shape), axis=1).astype(np.float64)
    d = np.where(np.abs(dirs) < 1e-9, 1e-9, dirs)
    t_enter = (idx + (d < 0) - origin) / d
    return t_enter.argmax(1)
