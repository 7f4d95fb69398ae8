"""Readers and writers of MonoScene's "depthbin" NYUv2 files.

One frame ``NYUxxxx_xxxx`` of ``NYU{train,test}/`` is three files:

* ``{name}.bin``: the SSCNet voxel file. Little-endian: 3 float32
  ``vox_origin`` (world coordinates of the grid's minimum corner, metres),
  16 float32 ``cam_pose`` (4x4 camera -> world, row-major), then uint32
  run-length pairs ``(value, count)`` that fill the 240 x 144 x 240 grid of
  0.02 m voxels. The runs are in C order of the array ``(240, 144, 240)``
  (the last axis varies fastest), the layout the reference reshapes them to.
  The array axes are world ``(x, z, y)``: axis 1 (144 voxels, 2.88 m) is the
  vertical world z, axis 2 (240 voxels) world y (docs/reference-notes.md,
  NYUv2 data). Values are the 37 NYU classes ``0 .. 36`` (0 = empty) or 255
  (not labelled).
* ``{name}_color.jpg``: the 640 x 480 RGB image.
* ``{name}.png``: the Kinect depth, 16-bit, in the SUN RGB-D / SSCNet
  format: millimetres rotated left by 3 bits within 16 bits,
  ``stored = ((mm << 3) | (mm >> 13)) & 0xFFFF``. The reader undoes the
  rotation, ``mm = ((stored >> 3) | (stored << 13)) & 0xFFFF``. Below
  8.192 m the top 3 bits of ``mm`` are 0, so this equals ``stored / 8000``
  metres, which is what the released OccDepth code computes
  (``occdepth/data/NYU/nyu_dataset.py: load_depth``); ``bit_rotation=False``
  reproduces that shortcut exactly.

Every reader checks sizes and raises :class:`ValueError` naming the file.
"""
import os
from typing import Sequence, Tuple

import numpy as np
from PIL import Image

from projects.OccDepth.occdepth.datasets.io import describe_image_mode
from projects.OccDepth.occdepth.datasets.label_maps import IGNORE_INDEX

# The SSCNet grid: 240 x 144 x 240 voxels of 0.02 m, array axes world
# (x, z, y).
NYU_FULL_GRID = (240, 144, 240)
NYU_FULL_VOXEL_SIZE = 0.02
# World axis of each array axis of the label grids (x, z, y).
NYU_GRID_AXES = (0, 2, 1)
# Kinect intrinsics of every NYUv2 frame (640 x 480 images).
NYU_INTRINSICS = ((518.8579, 0.0, 320.0), (0.0, 518.8579, 240.0), (0.0, 0.0,
                                                                   1.0))
NYU_NUM_RAW_CLASSES = 37

# SSCNet's 37 -> 12 class map (``seg_class_map`` of the reference): empty,
# ceiling, floor, wall, window, chair, bed, sofa, table, tvs, furniture,
# objects.
NYU_CLASS_MAP = (0, 1, 2, 3, 4, 11, 5, 6, 7, 8, 8, 10, 10, 10, 11, 11, 9, 8,
                 11, 11, 11, 11, 11, 11, 11, 11, 11, 10, 10, 11, 8, 10, 11, 9,
                 11, 11, 11)

_HEADER_FLOATS = 3 + 16
_HEADER_BYTES = 4 * _HEADER_FLOATS
_DEPTH_BITS = 16
_DEPTH_ROTATION = 3
_DEPTH_MM_PER_M = 1000.0
# The released code's shortcut: raw PNG value / 8000 = metres.
_LEGACY_DEPTH_SCALE = 8000.0


def nyu_class_lut() -> np.ndarray:
    """Lookup table raw NYU id (0..36, 255) -> training id (0..11, 255).

    Entries of other values are 254 (not a valid raw id).
    """
    lut = np.full(256, 254, dtype=np.uint8)
    lut[:NYU_NUM_RAW_CLASSES] = NYU_CLASS_MAP
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


_CLASS_LUT = nyu_class_lut()


def map_nyu_classes(raw: np.ndarray, path: str = '<array>') -> np.ndarray:
    """Map raw 37-class NYU ids to the 12 training classes, 255 kept.

    Args:
        raw: Integer array of raw ids (0..36 or 255).
        path: Name of the source, used in error messages.

    Returns:
        uint8 array of the same shape.
    """
    raw = np.asarray(raw)
    if raw.dtype.kind not in 'ui':
        raise ValueError(f'{path}: raw NYU labels must be integers, got '
                         f'{raw.dtype}')
    bad = (raw < 0) | (raw > 255)
    if not bad.any():
        bad = _CLASS_LUT[raw.astype(np.uint8)] == 254
    if bad.any():
        values = np.unique(raw[bad])[:5].tolist()
        raise ValueError(f'{path}: {int(bad.sum())} voxels hold values '
                         f'{values} that are not NYU class ids (0..'
                         f'{NYU_NUM_RAW_CLASSES - 1} or 255)')
    return _CLASS_LUT[raw.astype(np.uint8)]


def rle_encode(values: np.ndarray) -> np.ndarray:
    """Run-length encode a flat array as ``(value, count)`` uint32 pairs.

    Returns:
        uint32 array ``(num_runs, 2)``.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        return np.zeros((0, 2), dtype=np.uint32)
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    counts = np.diff(np.concatenate((starts, [flat.size])))
    return np.stack([flat[starts], counts], axis=1).astype(np.uint32)


def rle_decode(pairs: np.ndarray,
               num_values: int,
               path: str = '<array>') -> np.ndarray:
    """Expand ``(value, count)`` pairs into exactly ``num_values`` values.

    Args:
        pairs: ``(num_runs, 2)`` integer array.
        num_values: Expected total of the counts.
        path: Name of the source, used in error messages.

    Returns:
        Flat array of the run values (dtype of ``pairs``).
    """
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f'{path}: run-length data must be (value, count) '
                         f'pairs, got shape {pairs.shape}')
    total = int(pairs[:, 1].astype(np.int64).sum())
    if total > num_values:
        raise ValueError(f'{path}: run-length data overflows the grid: the '
                         f'runs cover {total} voxels, the grid has '
                         f'{num_values}')
    if total < num_values:
        raise ValueError(f'{path}: run-length data ends early: the runs '
                         f'cover {total} voxels, the grid has {num_values}')
    return np.repeat(pairs[:, 0], pairs[:, 1].astype(np.int64))


def _read_bytes(path: str) -> bytes:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'NYU voxel file not found: {path}')
    with open(path, 'rb') as f:
        return f.read()


def _parse_header(data: bytes, path: str) -> Tuple[np.ndarray, np.ndarray]:
    if len(data) < _HEADER_BYTES:
        raise ValueError(f'{path}: truncated NYU .bin: {len(data)} bytes, '
                         f'the header alone (vox_origin + cam_pose) needs '
                         f'{_HEADER_BYTES}')
    header = np.frombuffer(data, dtype='<f4', count=_HEADER_FLOATS)
    vox_origin = header[:3].astype(np.float32)
    cam_pose = header[3:].reshape(4, 4).astype(np.float32)
    if not (np.isfinite(vox_origin).all() and np.isfinite(cam_pose).all()):
        raise ValueError(f'{path}: NYU .bin header holds non-finite '
                         f'vox_origin / cam_pose values')
    return vox_origin, cam_pose


def read_nyu_bin_header(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read only ``vox_origin`` and ``cam_pose`` of a NYU ``.bin``.

    Returns:
        tuple: float32 ``vox_origin`` ``(3,)`` and ``cam_pose`` ``(4, 4)``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'NYU voxel file not found: {path}')
    with open(path, 'rb') as f:
        data = f.read(_HEADER_BYTES)
    return _parse_header(data, path)


def read_nyu_bin(
    path: str,
    grid_size: Sequence[int] = NYU_FULL_GRID
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a NYU ``.bin``: header and the raw (37-class) label grid.

    Args:
        path: File path.
        grid_size: Shape of the label array.

    Returns:
        tuple: float32 ``vox_origin`` ``(3,)``, float32 ``cam_pose``
        ``(4, 4)`` and uint8 raw labels of shape ``grid_size``.
    """
    data = _read_bytes(path)
    vox_origin, cam_pose = _parse_header(data, path)
    body = len(data) - _HEADER_BYTES
    if body % 8:
        raise ValueError(f'{path}: truncated NYU .bin: {body} bytes after '
                         f'the header, not a whole number of uint32 '
                         f'(value, count) pairs (8 bytes each)')
    pairs = np.frombuffer(
        data, dtype='<u4', offset=_HEADER_BYTES).reshape(-1, 2)
    if pairs.size and int(pairs[:, 0].max()) > 255:
        raise ValueError(f'{path}: run value {int(pairs[:, 0].max())} is '
                         f'not a NYU class id (0..{NYU_NUM_RAW_CLASSES - 1} '
                         f'or 255)')
    num = int(np.prod(grid_size))
    labels = rle_decode(pairs, num, path).astype(np.uint8)
    return vox_origin, cam_pose, labels.reshape(tuple(grid_size))


def read_nyu_labels(
    path: str,
    grid_size: Sequence[int] = NYU_FULL_GRID
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a NYU ``.bin`` and map its labels to the 12 training classes.

    Returns:
        tuple: ``vox_origin``, ``cam_pose`` (as :func:`read_nyu_bin`) and
        uint8 training ids (0 empty, 1..11 classes, 255 ignored) of shape
        ``grid_size``.
    """
    vox_origin, cam_pose, raw = read_nyu_bin(path, grid_size)
    return vox_origin, cam_pose, map_nyu_classes(raw, path)


def write_nyu_bin(path: str, vox_origin: Sequence[float], cam_pose: np.ndarray,
                  raw_labels: np.ndarray) -> None:
    """Write a NYU ``.bin`` (inverse of :func:`read_nyu_bin`).

    Args:
        path: Output path.
        vox_origin: ``(3,)`` world coordinates of the grid's min corner.
        cam_pose: ``(4, 4)`` camera -> world transform.
        raw_labels: Raw NYU ids (0..36 or 255), flattened in C order.
    """
    origin = np.asarray(vox_origin, dtype='<f4').reshape(-1)
    pose = np.asarray(cam_pose, dtype='<f4')
    if origin.shape != (3, ) or pose.shape != (4, 4):
        raise ValueError(f'{path}: vox_origin must have 3 values and '
                         f'cam_pose be 4x4, got {origin.shape} and '
                         f'{pose.shape}')
    raw = np.asarray(raw_labels)
    map_nyu_classes(raw, path)  # rejects values that are not NYU ids
    pairs = rle_encode(raw).astype('<u4')
    with open(path, 'wb') as f:
        f.write(origin.tobytes())
        f.write(pose.reshape(-1).tobytes())
        f.write(pairs.reshape(-1).tobytes())


def read_nyu_depth(path: str, bit_rotation: bool = True) -> np.ndarray:
    """Read a NYU depth PNG as float32 metres (0 = no measurement).

    Args:
        path: 16-bit single-channel PNG.
        bit_rotation: Undo the SSCNet 3-bit rotation (exact at every
            depth). False divides the stored value by 8000 like the released
            OccDepth code: identical below 8.192 m, wrong above.

    Returns:
        float32 ``(H, W)`` depth in metres.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'NYU depth PNG not found: {path}')
    try:
        with Image.open(path) as img:
            mode = img.mode
            data = np.array(img)
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read depth PNG: {exc}') from exc
    # Pillow opens 16-bit grayscale PNGs as I;16 (older releases as I).
    is_16bit = data.dtype == np.uint16 or (
        data.dtype == np.int32 and
        (data.size == 0 or 0 <= data.min() <= data.max() <= 65535))
    if not is_16bit or data.ndim != 2:
        raise ValueError(f'{path}: NYU depth PNG must be a single-channel '
                         f'16-bit image, found {describe_image_mode(mode)}')
    stored = data.astype(np.uint32)
    if not bit_rotation:
        return (stored / _LEGACY_DEPTH_SCALE).astype(np.float32)
    mask = (1 << _DEPTH_BITS) - 1
    mm = ((stored >> _DEPTH_ROTATION) |
          (stored << (_DEPTH_BITS - _DEPTH_ROTATION))) & mask
    return (mm / _DEPTH_MM_PER_M).astype(np.float32)


def write_nyu_depth(path: str, depth: np.ndarray) -> None:
    """Write metres as a SSCNet bit-rotated 16-bit PNG (0 = no value).

    Depths are rounded to millimetres and must lie in ``[0, 65.535]``.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f'{path}: depth must be (H, W), got shape '
                         f'{depth.shape}')
    mm = np.round(depth * _DEPTH_MM_PER_M)
    if not np.isfinite(mm).all() or mm.min() < 0 or mm.max() > 65535:
        raise ValueError(f'{path}: depths must be finite and in [0, 65.535] '
                         f'm')
    mm = mm.astype(np.uint32)
    mask = (1 << _DEPTH_BITS) - 1
    stored = ((mm << _DEPTH_ROTATION) |
              (mm >> (_DEPTH_BITS - _DEPTH_ROTATION))) & mask
    Image.fromarray(stored.astype(np.uint16)).save(path)
