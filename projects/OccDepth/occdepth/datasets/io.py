"""Readers and writers for the SemanticKITTI on-disk formats.

* ``voxels/*.bin|.invalid|.occluded``: one bit per voxel, most significant bit
  first, the grid flattened in C order (256 x 256 x 32 -> 262,144 bytes).
* ``voxels/*.label``: uint16 raw SemanticKITTI ids, one per voxel.
* ``calib.txt``: ``KEY: 12 floats`` (row-major 3x4) per line, parsing stops at
  the first empty line.
* depth PNGs: 16-bit, metres * 256, 0 = unknown (the KITTI depth convention).
* images: 8-bit RGB (``image_2`` / ``image_3`` PNGs, NYU JPEGs).

Every reader checks sizes, bit depths and values and raises
:class:`ValueError` naming the file and what it found.
"""
import os
from typing import Dict, Sequence

import numpy as np
from PIL import Image

KITTI_GRID_SIZE = (256, 256, 32)
DEPTH_PNG_SCALE = 256.0

# What a PIL image mode holds, for error messages.
_MODE_NAMES = {
    '1': '1-bit black-and-white',
    'L': '8-bit grayscale',
    'LA': '8-bit grayscale with alpha',
    'La': '8-bit grayscale with premultiplied alpha',
    'P': '8-bit palette',
    'PA': '8-bit palette with alpha',
    'RGB': '8-bit RGB',
    'RGBA': '8-bit RGBA',
    'RGBa': '8-bit RGBA (premultiplied alpha)',
    'RGBX': '8-bit RGB with padding',
    'CMYK': '8-bit CMYK',
    'YCbCr': '8-bit YCbCr',
    'LAB': '8-bit L*a*b*',
    'HSV': '8-bit HSV',
    'I': '32-bit integer grayscale',
    'I;16': '16-bit grayscale',
    'I;16L': '16-bit grayscale',
    'I;16B': '16-bit grayscale',
    'I;16N': '16-bit grayscale',
    'F': '32-bit float grayscale',
}
_DEPTH_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N')


def describe_image_mode(mode: str) -> str:
    """Human-readable bit depth and channels of a PIL mode, e.g.
    ``'16-bit grayscale (mode I;16)'``."""
    return f'{_MODE_NAMES.get(mode, "an image")} (mode {mode})'


def _num_voxels(grid_size: Sequence[int]) -> int:
    return int(np.prod(grid_size))


def read_voxel_bits(path: str,
                    grid_size: Sequence[int] = KITTI_GRID_SIZE) -> np.ndarray:
    """Read a bit-packed voxel file (``.bin``, ``.invalid``, ``.occluded``).

    Returns:
        uint8 array of shape ``grid_size`` with values 0/1.
    """
    n = _num_voxels(grid_size)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size * 8 != n:
        raise ValueError(f'{path}: bit-packed voxel file has {data.size} '
                         f'bytes, expected {n // 8} for a grid of '
                         f'{tuple(grid_size)}')
    return np.unpackbits(data, bitorder='big').reshape(grid_size)


def write_voxel_bits(path: str, bits: np.ndarray) -> None:
    """Write a 0/1 voxel grid as a bit-packed file (inverse of the reader)."""
    flat = np.asarray(bits).reshape(-1)
    if flat.size % 8:
        raise ValueError(f'{path}: voxel count {flat.size} is not a '
                         f'multiple of 8')
    np.packbits(flat.astype(bool), bitorder='big').tofile(path)


def read_label(path: str,
               grid_size: Sequence[int] = KITTI_GRID_SIZE) -> np.ndarray:
    """Read a uint16 ``.label`` voxel file of raw SemanticKITTI ids."""
    n = _num_voxels(grid_size)
    data = np.fromfile(path, dtype=np.uint16)
    if data.size != n or os.path.getsize(path) != 2 * n:
        raise ValueError(f'{path}: label file has {os.path.getsize(path)} '
                         f'bytes, expected {2 * n} (uint16 x '
                         f'{tuple(grid_size)})')
    return data.reshape(grid_size)


def write_label(path: str, labels: np.ndarray) -> None:
    """Write raw ids as a uint16 ``.label`` file in C order."""
    labels = np.asarray(labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 65535:
        raise ValueError(f'{path}: label values must fit in uint16')
    labels.astype(np.uint16).reshape(-1).tofile(path)


def read_calib(
    path: str, required: Sequence[str] = ('P2', 'P3', 'Tr')
) -> Dict[str, np.ndarray]:
    """Parse a KITTI odometry ``calib.txt``.

    Returns:
        Mapping from key to a float64 ``(3, 4)`` matrix.
    """
    calib = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                break
            key, sep, values = line.partition(':')
            if not sep:
                raise ValueError(f'{path}:{lineno}: expected "KEY: 12 '
                                 f'numbers", got {line!r}')
            try:
                nums = [float(x) for x in values.split()]
            except ValueError as exc:
                raise ValueError(f'{path}:{lineno}: {key} has a value that '
                                 f'is not a number') from exc
            if len(nums) != 12:
                raise ValueError(f'{path}:{lineno}: {key} has {len(nums)} '
                                 f'numbers, expected 12 (a 3x4 matrix)')
            bad = [x for x in nums if not np.isfinite(x)]
            if bad:
                raise ValueError(f'{path}:{lineno}: {key} holds '
                                 f'{len(bad)} non-finite value(s) '
                                 f'({", ".join(map(str, bad[:3]))}); every '
                                 f'calibration value must be a finite '
                                 f'number')
            calib[key.strip()] = np.array(nums, dtype=np.float64).reshape(3, 4)
    missing = [k for k in required if k not in calib]
    if missing:
        raise ValueError(f'{path}: missing calibration key(s) '
                         f'{", ".join(missing)}')
    return calib


def write_calib(path: str, calib: Dict[str, np.ndarray]) -> None:
    """Write ``calib.txt`` with one ``KEY: 12 numbers`` line per matrix."""
    with open(path, 'w') as f:
        for key, mat in calib.items():
            mat = np.asarray(mat, dtype=np.float64)
            if mat.shape == (4, 4):
                mat = mat[:3]
            values = ' '.join(f'{x:.12e}' for x in mat.reshape(-1))
            f.write(f'{key}: {values}\n')


def read_rgb_image(path: str) -> np.ndarray:
    """Read an 8-bit RGB image file as an HWC uint8 array.

    Other modes are refused rather than converted: ``convert('RGB')`` turns
    a 16-bit PNG into an all-white image and silently copies a grayscale
    one into three channels.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file cannot be decoded or is not 8-bit RGB; the
            message names what was found, e.g. ``16-bit grayscale (mode
            I;16)``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    try:
        with Image.open(path) as img:
            if img.mode != 'RGB':
                raise ValueError(f'{path}: expected an 8-bit RGB image, '
                                 f'found {describe_image_mode(img.mode)}')
            # Pillow opens a 16-bit-per-channel PNG as 8-bit 'RGB' (keeping
            # the high bytes); its decoder's raw mode tells the file's depth.
            if any(';16' in str(tile[3]) for tile in img.tile):
                raise ValueError(f'{path}: expected an 8-bit RGB image, '
                                 f'found 16-bit RGB (48 bits per pixel)')
            return np.asarray(img)
    except OSError as exc:
        raise ValueError(f'{path}: cannot read image: {exc}') from exc


def read_depth_png(path: str) -> np.ndarray:
    """Read a 16-bit depth PNG as float32 metres (0 = unknown).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a single-channel 16-bit image (an
            8-bit PNG would hold depths under 1 m only).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: depth PNG not found')
    try:
        with Image.open(path) as img:
            mode = img.mode
            data = np.array(img)
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read depth PNG: {exc}') from exc
    # Pillow opens 16-bit grayscale PNGs as I;16 (older releases as I).
    is_16bit = mode in _DEPTH_MODES or (
        mode == 'I' and
        (data.size == 0 or 0 <= data.min() <= data.max() <= 65535))
    if not is_16bit or data.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel 16-bit depth '
                         f'PNG (metres * {DEPTH_PNG_SCALE:g}), found '
                         f'{describe_image_mode(mode)}')
    return data.astype(np.float32) / DEPTH_PNG_SCALE


def write_depth_png(path: str, depth: np.ndarray) -> None:
    """Write float metres as a 16-bit depth PNG (0 stays unknown)."""
    depth = np.asarray(depth, dtype=np.float64)
    value = np.round(
        np.clip(depth, 0, 65535 / DEPTH_PNG_SCALE) * DEPTH_PNG_SCALE).astype(
            np.uint16)
    Image.fromarray(value).save(path)
