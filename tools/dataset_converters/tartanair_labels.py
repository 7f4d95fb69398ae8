"""SemanticTartanAir voxel labels of one depth + segmentation frame.

The rules (classes, surface labels, observed free space, unobserved 255, and
the authors' labelling) are those of
:mod:`~tools.dataset_converters.tartanair_ssc` (module docstring), which
writes the labels of whole trajectories.
"""
import json
import os
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from projects.OccDepth.occdepth.datasets.label_maps import (
    IGNORE_INDEX, TARTANAIR_CLASSES, TARTANAIR_OFFICE_SEG_IDS)
from projects.OccDepth.occdepth.datasets.tartanair import (
    TARTANAIR_GRID_SIZE, TARTANAIR_VOXEL_ORIGIN, TARTANAIR_VOXEL_SIZE,
    check_grid, valid_depth_mask)
from projects.OccDepth.occdepth.models.utils import geometry
from tools.dataset_converters.tartanair_raw import (TARTANAIR_CAM_K,
                                                    backproject_depth)

OBJS_CLASS = len(TARTANAIR_CLASSES) - 1
# 'observed': surfaces, observed free space 0, the rest 255 (this project);
# 'authors': surfaces binned with np.rint, every other voxel 0 (the authors'
# export_voxels.py)
LABELLINGS = ('observed', 'authors')
# point -> voxel index: floor((p - origin) / size) or np.rint of it
BINNINGS = ('floor', 'rint')

ClassMap = Mapping[str, Sequence[int]]


def grid_centers(grid_size: Sequence[int], voxel_size: float,
                 voxel_origin: Sequence[float]) -> np.ndarray:
    """``(X*Y*Z, 3)`` float64 voxel centres in C order, as numpy
    (:func:`geometry.voxel_centers_float64`)."""
    return geometry.voxel_centers_float64(grid_size, voxel_size,
                                          voxel_origin).numpy()


def load_class_map(class_map: Union[None, str, ClassMap] = None) -> ClassMap:
    """Read and check a segmentation-id -> class map.

    Args:
        class_map: None for :data:`TARTANAIR_OFFICE_SEG_IDS`, a path to a
            JSON object ``{class name: [seg ids]}``, or such a mapping.
            Class names are those of :data:`TARTANAIR_CLASSES` other than
            ``'empty'``; ids are integers in 0..255 and each id may appear
            under one class only. Ids not listed map to ``'objs'``.

    Returns:
        dict class name -> tuple of ids.
    """
    source = 'the class map'
    if class_map is None:
        return {k: tuple(v) for k, v in TARTANAIR_OFFICE_SEG_IDS.items()}
    if isinstance(class_map, str):
        source = class_map
        if not os.path.isfile(class_map):
            raise FileNotFoundError(f'class map file not found: {class_map}')
        try:
            with open(class_map) as f:
                class_map = json.load(f)
        except ValueError as exc:
            raise ValueError(f'{source}: not valid JSON: {exc}') from exc
    if not isinstance(class_map, Mapping):
        raise ValueError(f'{source}: expected an object {{class name: '
                         f'[seg ids]}}, got {type(class_map).__name__}')
    owner: Dict[int, str] = {}
    checked = {}
    for name, ids in class_map.items():
        if name not in TARTANAIR_CLASSES[1:]:
            raise ValueError(f'{source}: unknown class {name!r}; classes are '
                             f'{TARTANAIR_CLASSES[1:]}')
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise ValueError(f'{source}: class {name!r} needs a list of seg '
                             f'ids, got {ids!r}')
        for seg_id in ids:
            if (isinstance(seg_id, bool) or not isinstance(seg_id, int)
                    or not 0 <= seg_id <= 255):
                raise ValueError(f'{source}: class {name!r} lists {seg_id!r}'
                                 f'; seg ids are integers in 0..255')
            if owner.get(seg_id, name) != name:
                raise ValueError(f'{source}: seg id {seg_id} is listed under '
                                 f'both {owner[seg_id]!r} and {name!r}')
            owner[seg_id] = name
        checked[name] = tuple(sorted(set(ids)))
    return checked


def seg_class_lut(class_map: Union[None, str, ClassMap] = None) -> np.ndarray:
    """``(256,)`` uint8 lookup table seg id -> class id (unlisted -> objs)."""
    checked = load_class_map(class_map)
    lut = np.full(256, OBJS_CLASS, dtype=np.uint8)
    for name, ids in checked.items():
        lut[list(ids)] = TARTANAIR_CLASSES.index(name)
    return lut


def surface_labels(points: np.ndarray,
                   classes: np.ndarray,
                   grid_size: Sequence[int],
                   voxel_size: float,
                   voxel_origin: Sequence[float],
                   num_classes: int,
                   binning: str = 'floor') -> np.ndarray:
    """Majority class of the points in each voxel (0 where none).

    Args:
        points: ``(N, 3)`` voxel-frame points.
        classes: ``(N,)`` class ids in ``1 .. num_classes - 1``.
        grid_size: ``(X, Y, Z)``.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid (``'floor'``), or the
            centre of voxel ``(0, 0, 0)`` (``'rint'``).
        num_classes: Number of classes.
        binning: Voxel index of a point ``p``: ``'floor'``:
            ``floor((p - origin) / voxel_size)``; ``'rint'``:
            ``np.rint((p - origin) / voxel_size)`` (half to even), the
            authors' ``depth2voxel``.

    Returns:
        uint8 grid; ties go to the smaller class id.
    """
    grid = check_grid(grid_size, voxel_size, voxel_origin)
    if binning not in BINNINGS:
        raise ValueError(f'binning must be one of {BINNINGS}, got '
                         f'{binning!r}')
    scaled = (points - np.asarray(voxel_origin, dtype=np.float64)) / voxel_size
    idx = (np.floor(scaled) if binning == 'floor' else np.rint(scaled)).astype(
        np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(grid)), axis=1)
    flat = np.ravel_multi_index(idx[inside].T, grid)
    keys = flat * num_classes + classes[inside].astype(np.int64)
    keys, counts = np.unique(keys, return_counts=True)
    voxel, cls = np.divmod(keys, num_classes)
    # per voxel: largest count first, then the smaller class id
    order = np.lexsort((cls, -counts, voxel))
    voxel, cls = voxel[order], cls[order]
    first = np.ones(voxel.shape, dtype=bool)
    first[1:] = voxel[1:] != voxel[:-1]
    labels = np.zeros(int(np.prod(grid)), dtype=np.uint8)
    labels[voxel[first]] = cls[first]
    return labels.reshape(grid)


def observed_free_mask(depth: np.ndarray,
                       cam_k: np.ndarray,
                       lidar2cam: np.ndarray,
                       centers: np.ndarray,
                       max_depth: Optional[float] = None) -> np.ndarray:
    """Voxels whose centre lies between the camera and the observed surface.

    Args:
        depth: ``(H, W)`` z-depth of the camera.
        cam_k: ``(3, 3)`` intrinsics.
        lidar2cam: ``(4, 4)`` voxel frame -> camera.
        centers: ``(N, 3)`` voxel-frame centres (:func:`grid_centers`).
        max_depth: Centres deeper than this are not observed.

    Returns:
        Bool ``(N,)``: centre in front of the camera, projecting (nearest
        pixel, half to even) onto a valid-depth pixel ``d`` with camera depth
        ``< d``.
    """
    cam = centers @ lidar2cam[:3, :3].T + lidar2cam[:3, 3]
    z = cam[:, 2]
    front = z > 1e-6
    safe = np.where(front, z, 1.0)
    pix = cam @ cam_k.T
    u = np.rint(pix[:, 0] / safe)
    v = np.rint(pix[:, 1] / safe)
    h, w = depth.shape
    inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    free = np.zeros(len(centers), dtype=bool)
    ui = u[inside].astype(np.int64)
    vi = v[inside].astype(np.int64)
    d = depth[vi, ui]
    ok = valid_depth_mask(d) & (z[inside] < d)
    if max_depth is not None:
        ok &= z[inside] <= max_depth
    free[np.flatnonzero(inside)[ok]] = True
    return free


def ssc_labels_from_depth(depth: np.ndarray,
                          seg: np.ndarray,
                          lidar2cam: np.ndarray,
                          class_lut: np.ndarray,
                          cam_k: np.ndarray = TARTANAIR_CAM_K,
                          grid_size: Sequence[int] = TARTANAIR_GRID_SIZE,
                          voxel_size: float = TARTANAIR_VOXEL_SIZE,
                          voxel_origin: Sequence[float] = (
                              TARTANAIR_VOXEL_ORIGIN),
                          max_depth: Optional[float] = None,
                          centers: Optional[np.ndarray] = None,
                          labelling: str = 'observed') -> np.ndarray:
    """Semantic voxel labels of one depth + segmentation frame.

    Args:
        depth: ``(H, W)`` z-depth in metres of the left camera.
        seg: ``(H, W)`` uint8 segmentation ids of the left camera.
        lidar2cam: ``(4, 4)`` voxel frame -> left camera.
        class_lut: ``(256,)`` seg id -> class id (:func:`seg_class_lut`).
        cam_k: Left intrinsics.
        grid_size: ``(X, Y, Z)``.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid in the voxel frame (the
            centre of voxel ``(0, 0, 0)`` with ``labelling='authors'``).
        max_depth: Depths beyond it are neither surfaces nor free space.
        centers: Precomputed :func:`grid_centers` of the grid.
        labelling: ``'observed'`` or ``'authors'`` (see Returns).

    Returns:
        uint8 ``grid_size`` labels. ``'observed'``: surface voxels their
        majority class (points binned with ``floor``), observed free space
        0, everything else 255. ``'authors'``: surface voxels their
        majority class with points binned by ``np.rint`` (voxel ``i``
        holds the points within half a voxel of ``origin + i * size``),
        every other voxel 0.
    """
    grid = check_grid(grid_size, voxel_size, voxel_origin)
    if labelling not in LABELLINGS:
        raise ValueError(f'labelling must be one of {LABELLINGS}, got '
                         f'{labelling!r}')
    if depth.shape != seg.shape:
        raise ValueError(f'depth map {depth.shape} and segmentation '
                         f'{seg.shape} differ in size')
    valid = valid_depth_mask(depth, max_depth)
    cam_points = backproject_depth(depth, cam_k)[valid]
    cam_to_vox = np.linalg.inv(lidar2cam)
    points = cam_points @ cam_to_vox[:3, :3].T + cam_to_vox[:3, 3]
    num_classes = len(TARTANAIR_CLASSES)
    if labelling == 'authors':
        return surface_labels(
            points,
            class_lut[seg[valid]],
            grid,
            voxel_size,
            voxel_origin,
            num_classes,
            binning='rint')
    if centers is None:
        centers = grid_centers(grid, voxel_size, voxel_origin)
    surface = surface_labels(points, class_lut[seg[valid]], grid, voxel_size,
                             voxel_origin, num_classes)
    free = observed_free_mask(depth, cam_k, lidar2cam, centers,
                              max_depth).reshape(grid)
    labels = np.where(free, 0, IGNORE_INDEX).astype(np.uint8)
    occupied = surface > 0
    labels[occupied] = surface[occupied]
    return labels
