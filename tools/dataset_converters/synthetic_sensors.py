"""Cameras and lidar of the synthetic generator, simulated on the voxels.

**Images.** Both colour cameras are ray cast through the voxel grid (exact
voxel traversal with empty-space skipping), so the stereo pair and the depth
map follow the voxels: a pixel shows the first occupied voxel along its ray
and the right view sees it at the true disparity. The colour is the class
palette colour, varied per object, textured by hashes of the voxel and of the
hit point on its face (anchored in 3D, so both views agree), shaded by the
face direction, hazed with distance, plus mild sensor noise. The depth is the
left z-buffer (camera z of the hit, 0 where the ray leaves the grid).

**Observation.** SemanticKITTI marks voxels that no lidar scan of the
sequence observed. Here a 360 degree range sensor (elevations -25 to +20
degrees, one ray per voxel at 20 m) scans from points of the ego path through
the grid (x = 0, 10, ..., 40 m ahead of the current scan at lidar height,
skipping points outside the grid or next to an object). From a scan point, an
empty voxel is observed when its centre is not farther than the range
measured in its direction (plus half a voxel), i.e. it lies in the free space
in front of the surfaces; an occupied voxel is observed when a ray hits it or
it shares a face with an observed empty voxel (its surface was in view).
"""
from typing import Sequence, Tuple

import numpy as np

from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_PALETTE, semantickitti_remap_lut)
from tools.dataset_converters.synthetic_voxels import (Grid, cast_rays, hash01,
                                                       hit_faces)

# The scan points of the simulated lidar, ahead of the current scan.
_SCAN_POINTS_X = (0.0, 10.0, 20.0, 30.0, 40.0)
_SCAN_ELEVATION = (-25.0, 20.0)
_SKY_TOP = np.array([150.0, 180.0, 225.0])
_SKY_HORIZON = np.array([215.0, 225.0, 235.0])
_FAR_GROUND = np.array([120.0, 118.0, 112.0])
_HAZE = np.array([200.0, 205.0, 215.0])


def render_view(labels: np.ndarray, instances: np.ndarray, radius: np.ndarray,
                grid: Grid, lidar2img: np.ndarray, image_size: Sequence[int],
                noise_seed: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Ray cast one camera through the voxels.

    Args:
        labels: Raw labels ``(X, Y, Z)``.
        instances: Object ids ``(X, Y, Z)``.
        radius: ``synthetic_voxels.free_radius`` of ``labels != 0``.
        grid: The voxel grid.
        lidar2img: ``(4, 4)`` velodyne -> pixel matrix (``K @ lidar2cam``).
        image_size: ``(H, W)``.
        noise_seed: Entropy of the sensor noise of this view.

    Returns:
        tuple: RGB uint8 ``(H, W, 3)`` and depth float32 ``(H, W)`` (camera
        z of the first occupied voxel, 0 where the ray leaves the grid).
    """
    height, width = image_size
    inv = np.linalg.inv(lidar2img)
    v, u = np.meshgrid(
        np.arange(height, dtype=np.float64),
        np.arange(width, dtype=np.float64),
        indexing='ij')
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    # Metres per unit camera depth, so the ray parameter is the depth.
    dirs = pix @ inv[:3, :3].T
    scale = grid.voxel_size
    origin = (inv[:3, 3] - np.asarray(grid.origin)) / scale
    depth, flat = cast_rays(radius, origin, dirs / scale)
    hit = flat >= 0
    rgb = _background(dirs)
    if hit.any():
        rgb[hit] = _surface_colour(labels, instances, grid, origin,
                                   dirs[hit] / scale, depth[hit], flat[hit])
    rng = np.random.default_rng(list(noise_seed))
    rgb += rng.normal(0.0, 2.0, size=rgb.shape)
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    depth = np.where(hit, depth, 0.0).astype(np.float32)
    return rgb.reshape(height, width, 3), depth.reshape(height, width)


def _background(dirs: np.ndarray) -> np.ndarray:
    """Sky above the horizon, hazy far ground below it."""
    elevation = dirs[:, 2] / np.linalg.norm(dirs, axis=1)
    w = np.clip(elevation / 0.3, 0.0, 1.0)[:, None]
    sky = _SKY_HORIZON * (1 - w) + _SKY_TOP * w
    return np.where(elevation[:, None] < 0, _FAR_GROUND, sky)


def _surface_colour(labels: np.ndarray, instances: np.ndarray, grid: Grid,
                    origin: np.ndarray, dirs: np.ndarray, t: np.ndarray,
                    flat: np.ndarray) -> np.ndarray:
    """Colour of the hit points: class, object, texture, shading, haze."""
    palette = np.asarray(SEMANTICKITTI_PALETTE, dtype=np.float64)
    train = semantickitti_remap_lut()[labels.reshape(-1)[flat]]
    colour = palette[np.where(train == 255, 0, train)]
    inst = instances.reshape(-1)[flat]
    colour = colour * (0.85 + 0.2 * hash01(inst, 1))[:, None]
    colour += (np.stack([hash01(inst, c) for c in (2, 3, 4)], 1) - 0.5) * 20
    colour *= (0.92 + 0.16 * hash01(flat, 5))[:, None]
    axis = hit_faces(origin, dirs, flat, labels.shape)
    # Texture anchored on the face: a 4 x 4 pattern of cells per voxel face
    # along the two in-face axes, identical in both cameras.
    cells = np.floor((origin + dirs * t[:, None]) * 4).astype(np.int64)
    cells[np.arange(len(cells)), axis] = 0
    colour *= (0.9 + 0.2 * hash01(cells[:, 0], cells[:, 1], cells[:, 2]))[:,
                                                                          None]
    shade = np.array([0.88, 0.78, 1.0])[axis]
    colour *= shade[:, None]
    haze = 1.0 - np.exp(-t / 150.0)
    return colour * (1 - haze[:, None]) + _HAZE * haze[:, None]


def lidar_observation(occupied: np.ndarray, radius: np.ndarray,
                      grid: Grid) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated lidar scans along the ego path (module docstring).

    Returns:
        tuple of bool ``(X, Y, Z)`` arrays: ``observed`` from some scan point,
        ``observed_first`` from the first one and ``scan_hits`` (voxels hit by
        the first scan).
    """
    s = grid.voxel_size
    # Angular step: one voxel at 20 m.
    step = np.arctan(s / 20.0)
    azimuth = np.arange(-np.pi, np.pi, step)
    el_lo, el_hi = np.radians(_SCAN_ELEVATION)
    elevation = np.arange(el_lo, el_hi + step / 2, step)
    az, el = np.meshgrid(azimuth, elevation, indexing='ij')
    dirs = np.stack(
        [np.cos(el) * np.cos(az),
         np.cos(el) * np.sin(az),
         np.sin(el)],
        axis=-1).reshape(-1, 3)
    centres = [grid.centres(a, 0, grid.size[a]) for a in range(3)]
    free_seen = np.zeros(grid.size, dtype=bool)
    free_seen_first = np.zeros(grid.size, dtype=bool)
    hits = np.zeros(grid.size, dtype=bool)
    scan_hits = np.zeros(grid.size, dtype=bool)
    for num, x in enumerate(_SCAN_POINTS_X):
        point = np.array([x, 0.0, 0.0])
        origin = (point - np.asarray(grid.origin)) / s
        if _near_occupied(occupied, origin):
            continue
        dist, flat = cast_rays(radius, origin, dirs / s)
        ranges = np.where(flat >= 0, dist, np.inf).reshape(az.shape)
        seen = _shadow_test(ranges, centres, point, azimuth[0], elevation[0],
                            step, s) & ~occupied
        free_seen |= seen
        hits.reshape(-1)[flat[flat >= 0]] = True
        if num == 0:
            free_seen_first = seen
            scan_hits.reshape(-1)[flat[flat >= 0]] = True
    observed = free_seen | hits | (occupied & face_neighbours(free_seen))
    observed_first = (
        free_seen_first | scan_hits |
        (occupied & face_neighbours(free_seen_first)))
    return observed, observed_first, scan_hits


def face_neighbours(mask: np.ndarray) -> np.ndarray:
    """Voxels that share a face with a voxel of ``mask``."""
    out = np.zeros_like(mask)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        out[tuple(hi)] |= mask[tuple(lo)]
        out[tuple(lo)] |= mask[tuple(hi)]
    return out


def _near_occupied(occupied: np.ndarray, origin: np.ndarray) -> bool:
    """Whether a scan point lies in or next to an occupied voxel."""
    idx = np.floor(origin).astype(np.int64)
    lo = np.clip(idx - 1, 0, np.array(occupied.shape))
    hi = np.clip(idx + 2, 0, np.array(occupied.shape))
    if np.any(hi <= lo):
        return True
    return bool(occupied[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].any())


def _shadow_test(ranges: np.ndarray, centres: Sequence[np.ndarray],
                 point: np.ndarray, az0: float, el0: float, step: float,
                 voxel_size: float) -> np.ndarray:
    """Voxels whose centre is no farther than the range in its direction."""
    num_az, num_el = ranges.shape
    dx = (centres[0] - point[0])[:, None, None]
    dy = (centres[1] - point[1])[None, :, None]
    dz = (centres[2] - point[2])[None, None, :]
    horiz = np.sqrt(dx * dx + dy * dy)
    dist = np.sqrt(horiz * horiz + dz * dz)
    az_bin = np.round(
        (np.arctan2(dy, dx) - az0) / step).astype(np.int64) % num_az
    el_bin = np.round((np.arctan2(dz, horiz) - el0) / step).astype(np.int64)
    in_fov = (el_bin >= 0) & (el_bin < num_el)
    seen_range = ranges[az_bin, np.clip(el_bin, 0, num_el - 1)]
    return in_fov & (dist <= seen_range + 0.5 * voxel_size)
