"""Read any voxel grid on disk as training ids, with its dataset's style.

Formats (the extension decides):

* ``.label``: uint16 raw SemanticKITTI ids in C order, the ground truth of
  the benchmark and the prediction files of ``tools/make_submission.py``
  (training ids written through ``learning_map_inv``). Both are mapped back
  with ``learning_map``; raw ids that map to 0 other than 0 itself, and
  voxels flagged in an optional ``.invalid`` file, become 255 (not drawn).
* ``.npy``: training ids (what the datasets' label caches and TartanAir's
  exporter write).
* ``.bin``: a NYUv2 "depthbin" file (SSCNet run-length labels on the
  240 x 144 x 240 grid, 37 raw classes), mapped to the 12 training classes
  and majority-pooled to the requested grid as the NYU dataset does.

A :class:`GridStyle` carries what drawing needs besides the labels: class
names, palette, grid size, voxel size and origin. It comes from a config
(its model geometry and its test dataset's ``METAINFO``) or from a dataset
name with optional overrides.
"""
import os
from dataclasses import dataclass, replace
from typing import Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config

from projects.OccDepth.occdepth.datasets.io import read_label, read_voxel_bits
from projects.OccDepth.occdepth.datasets.kitti360 import read_kitti360_labels
from projects.OccDepth.occdepth.datasets.label_maps import (
    KITTI360_CLASSES, KITTI360_PALETTE, NYU_CLASSES, NYU_PALETTE,
    SEMANTICKITTI_CLASSES, SEMANTICKITTI_PALETTE, TARTANAIR_CLASSES,
    TARTANAIR_PALETTE)
from projects.OccDepth.occdepth.datasets.nyu_io import (NYU_FULL_GRID,
                                                        read_nyu_labels)
from projects.OccDepth.occdepth.datasets.voxel_labels import (
    downsample_labels, remap_kitti_labels)

GRID_EXTENSIONS = ('.label', '.npy', '.bin')


@dataclass(frozen=True)
class GridStyle:
    """How to draw the grids of one dataset.

    Attributes:
        name: Dataset name (``semantickitti``, ``nyu`` or ``tartanair``).
        classes: Class name per training id.
        palette: RGB colour per training id.
        grid_size: ``(X, Y, Z)`` voxels.
        voxel_size: Edge length in metres.
        origin: Voxel-frame position of the grid's minimum corner.
        up_axis: Grid axis that points up or down.
        up_sign: +1 when ``up_axis`` points up, -1 when it points down
            (TartanAir's y).
    """
    name: str
    classes: Tuple[str, ...]
    palette: Tuple[Tuple[int, int, int], ...]
    grid_size: Tuple[int, int, int]
    voxel_size: float
    origin: Tuple[float, float, float]
    up_axis: int
    up_sign: int


# The benchmarks' own grids (configs/_base_/datasets/*.py and
# configs/occdepth_tartanair.py); the NYU array axes are world (x, z, y)
# (datasets/nyu_io.py), TartanAir's x right, y down, z forward
# (datasets/tartanair.py).
DATASET_STYLES = {
    'semantickitti':
    GridStyle('semantickitti', SEMANTICKITTI_CLASSES, SEMANTICKITTI_PALETTE,
              (256, 256, 32), 0.2, (0.0, -25.6, -2.0), 2, 1),
    'nyu':
    GridStyle('nyu', NYU_CLASSES, NYU_PALETTE, (60, 36, 60), 0.08,
              (0.0, 0.0, 0.0), 1, 1),
    'tartanair':
    GridStyle('tartanair', TARTANAIR_CLASSES, TARTANAIR_PALETTE,
              (120, 48, 120), 0.1, (-6.0, -3.0, 0.0), 1, -1),
    'kitti360':
    GridStyle('kitti360', KITTI360_CLASSES, KITTI360_PALETTE, (256, 256, 32),
              0.2, (0.0, -25.6, -2.0), 2, 1),
}

# Registered dataset class -> style name.
_DATASET_TYPES = {
    'SemanticKittiSSCDataset': 'semantickitti',
    'NYUv2SSCDataset': 'nyu',
    'TartanAirSSCDataset': 'tartanair',
    'Kitti360SSCDataset': 'kitti360',
}


def style_from_name(name: str,
                    grid_size: Optional[Sequence[int]] = None,
                    voxel_size: Optional[float] = None,
                    origin: Optional[Sequence[float]] = None) -> GridStyle:
    """The style of a dataset, with optional geometry overrides."""
    if name not in DATASET_STYLES:
        raise ValueError(f'unknown dataset {name!r}; choose one of '
                         f'{sorted(DATASET_STYLES)}')
    return _with_geometry(DATASET_STYLES[name], grid_size, voxel_size, origin)


def style_for_dataset_type(dataset_type: Optional[str],
                           source: str) -> GridStyle:
    """The style of a registered dataset class (``source`` names the config
    in the error)."""
    if dataset_type not in _DATASET_TYPES:
        raise ValueError(f'{source}: dataset type {dataset_type!r} is not one '
                         f'of {sorted(_DATASET_TYPES)}')
    return DATASET_STYLES[_DATASET_TYPES[dataset_type]]


def style_from_config(cfg: Config,
                      grid_size: Optional[Sequence[int]] = None,
                      voxel_size: Optional[float] = None,
                      origin: Optional[Sequence[float]] = None) -> GridStyle:
    """The style of a config's test dataset and the model's grid.

    Args:
        cfg: A loaded config with ``test_dataloader.dataset.type`` and
            ``model.grid_size`` / ``voxel_size`` (``voxel_origin``
            optional: the dataset's default is used without it).
        grid_size, voxel_size, origin: Overrides (command-line flags).
    """
    dtype = cfg.get('test_dataloader', {}).get('dataset', {}).get('type')
    style = style_for_dataset_type(dtype, f'{cfg.filename} (test_dataloader)')
    model = cfg.get('model', {})
    style = _with_geometry(style, model.get('grid_size'),
                           model.get('voxel_size'), model.get('voxel_origin'))
    return _with_geometry(style, grid_size, voxel_size, origin)


def _with_geometry(style: GridStyle, grid_size, voxel_size,
                   origin) -> GridStyle:
    if grid_size is not None:
        grid_size = tuple(int(n) for n in grid_size)
        if len(grid_size) != 3 or min(grid_size) < 1:
            raise ValueError(f'grid size must be 3 positive integers, got '
                             f'{grid_size}')
        style = replace(style, grid_size=grid_size)
    if voxel_size is not None:
        style = replace(style, voxel_size=float(voxel_size))
    if origin is not None:
        origin = tuple(float(v) for v in origin)
        if len(origin) != 3:
            raise ValueError(f'origin must have 3 values, got {origin}')
        style = replace(style, origin=origin)
    return style


def read_grid(path: str,
              style: GridStyle,
              invalid_path: Optional[str] = None) -> np.ndarray:
    """Read a grid file as uint8 training ids of ``style.grid_size``.

    Args:
        path: A ``.label``, ``.npy`` or NYU ``.bin`` file.
        style: Dataset style; its grid size is the expected shape.
        invalid_path: Optional bit-packed ``.invalid`` file of a ``.label``
            (voxels flagged 1 become 255).

    Returns:
        uint8 ``(X, Y, Z)`` labels (0 empty, 255 not drawn).

    Raises:
        ValueError: naming the file, when its size does not fit the grid or
            it holds labels the style has no colour for.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'grid file not found: {path}')
    ext = os.path.splitext(path)[1].lower()
    grid_size = style.grid_size
    if invalid_path is not None and ext != '.label':
        raise ValueError(f'{invalid_path}: an .invalid mask goes with a '
                         f'.label file, not with {path}')
    if ext == '.label' and style.name == 'kitti360':
        # SSCBench-KITTI-360 ids and byte-per-voxel .invalid (kitti360.py)
        labels = read_kitti360_labels(path, invalid_path, grid_size)[0]
    elif ext == '.label':
        if style.name != 'semantickitti':
            raise ValueError(f'{path}: .label files hold SemanticKITTI raw '
                             f'ids; the dataset here is {style.name}')
        _check_size(path, 2, grid_size, 'uint16 raw ids')
        raw = read_label(path, grid_size)
        invalid = None
        if invalid_path is not None:
            _check_size(invalid_path, 1 / 8, grid_size, 'bit-packed flags')
            invalid = read_voxel_bits(invalid_path, grid_size)
        labels, _ = remap_kitti_labels(raw, invalid)
    elif ext == '.npy':
        labels = np.load(path, allow_pickle=False)
        if labels.dtype.kind not in 'ui':
            raise ValueError(f'{path}: labels must be integers, got '
                             f'{labels.dtype}')
        if labels.size == int(np.prod(grid_size)) and labels.ndim == 1:
            labels = labels.reshape(grid_size)
        if labels.shape != grid_size:
            raise ValueError(f'{path}: array of shape {labels.shape} does not '
                             f'fit the grid {grid_size}; pass --grid-size or '
                             'a matching --config')
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError(f'{path}: labels must be training ids 0..255')
        labels = labels.astype(np.uint8)
    elif ext == '.bin':
        labels = _read_nyu(path, grid_size)
    else:
        raise ValueError(f'{path}: unknown grid format {ext!r}; expected one '
                         f'of {GRID_EXTENSIONS}')
    drawn = labels[(labels != 0) & (labels != 255)]
    if drawn.size and int(drawn.max()) >= len(style.palette):
        raise ValueError(f'{path}: holds label {int(drawn.max())} but '
                         f'{style.name} has only {len(style.palette)} '
                         'classes')
    return labels


def _check_size(path: str, bytes_per_voxel: float,
                grid_size: Tuple[int, int, int], what: str) -> None:
    size = os.path.getsize(path)
    expected = int(np.prod(grid_size) * bytes_per_voxel)
    if size != expected:
        raise ValueError(f'{path}: {size} bytes do not fit the grid '
                         f'{grid_size}, which needs {expected} bytes of '
                         f'{what} ({size / bytes_per_voxel:.0f} voxels '
                         'here); pass --grid-size or a matching --config')


def _read_nyu(path: str, grid_size: Tuple[int, int, int]) -> np.ndarray:
    factors = [full / n for full, n in zip(NYU_FULL_GRID, grid_size)]
    factor = int(round(factors[0]))
    if any(f != factor for f in factors) or factor < 1:
        raise ValueError(f'{path}: NYU files hold the {NYU_FULL_GRID} grid; '
                         f'{grid_size} is not it pooled by an integer factor')
    _, _, labels = read_nyu_labels(path)
    return labels if factor == 1 else downsample_labels(labels, factor)
