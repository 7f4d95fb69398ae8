"""Voxel label helpers: raw id remapping and majority downsampling.

Everything here is plain numpy on uint8 / uint16 grids stored in C order
``(X, Y, Z)``. Training ids: 0 = empty, 1..254 = classes, 255 = ignored.
:class:`EmptyLabelReporter` warns about grids that are ignored everywhere.
"""
import logging
from typing import Dict, Optional, Sequence, Set, Tuple

import numpy as np
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.io import read_label, read_voxel_bits
from projects.OccDepth.occdepth.datasets.label_maps import (
    IGNORE_INDEX, SEMANTICKITTI_LEARNING_MAP, semantickitti_remap_lut)

# Ratio of empty + ignored voxels above which a block is not a class block
# (MonoScene / OccDepth ``_downsample_label``).
EMPTY_BLOCK_RATIO = 0.95

_REMAP_LUT = semantickitti_remap_lut()
_KNOWN_RAW_IDS = np.zeros(65536, dtype=bool)
_KNOWN_RAW_IDS[list(SEMANTICKITTI_LEARNING_MAP)] = True


def remap_kitti_labels(
        raw: np.ndarray,
        invalid: Optional[np.ndarray] = None) -> Tuple[np.ndarray, int]:
    """Map raw SemanticKITTI ids to training ids, as the benchmark does.

    Raw ids that map to 0 other than 0 itself (outlier, other-structure,
    other-object) and ids absent from the learning map become 255. Voxels
    flagged in ``invalid`` become 255 too.

    Args:
        raw: uint16 raw ids of any shape.
        invalid: Optional 0/1 mask of the same shape (the ``.invalid``
            file); voxels equal to 1 are ignored.

    Returns:
        tuple: the uint8 training-id grid and the number of voxels whose raw
        id is absent from the learning map (so the caller can warn).
    """
    raw = np.asarray(raw)
    if raw.dtype.kind not in 'ui':
        raise ValueError(f'raw labels must be integers, got {raw.dtype}')
    if raw.size and (raw.min() < 0 or raw.max() > 65535):
        raise ValueError('raw labels must fit in uint16')
    raw = raw.astype(np.uint16, copy=False)
    labels = _REMAP_LUT[raw]
    num_unknown = int(raw.size - np.count_nonzero(_KNOWN_RAW_IDS[raw]))
    if invalid is not None:
        invalid = np.asarray(invalid)
        if invalid.shape != raw.shape:
            raise ValueError(f'invalid mask shape {invalid.shape} does not '
                             f'match the label shape {raw.shape}')
        labels[invalid == 1] = IGNORE_INDEX
    return labels, num_unknown


def read_kitti_labels(
    label_path: str,
    invalid_path: Optional[str] = None,
    grid_size: Sequence[int] = (256, 256, 32)
) -> Tuple[np.ndarray, int]:
    """Read a ``.label`` (and its ``.invalid``) and remap to training ids.

    Args:
        label_path: Path of the uint16 ``.label`` file.
        invalid_path: Path of the bit-packed ``.invalid`` file, or None.
        grid_size: ``(X, Y, Z)`` of the grid.

    Returns:
        tuple: uint8 labels of shape ``grid_size`` and the number of voxels
        with raw ids absent from the learning map.
    """
    raw = read_label(label_path, grid_size)
    invalid = None
    if invalid_path is not None:
        invalid = read_voxel_bits(invalid_path, grid_size)
    return remap_kitti_labels(raw, invalid)


def _blocks(labels: np.ndarray, factor: int) -> np.ndarray:
    """Rearrange a grid into ``(num_blocks, factor**3)`` rows, C order."""
    x, y, z = labels.shape
    f = factor
    blocks = labels.reshape(x // f, f, y // f, f, z // f, f)
    return blocks.transpose(0, 2, 4, 1, 3, 5).reshape(-1, f**3)


def downsample_labels(labels: np.ndarray, factor: int) -> np.ndarray:
    """Majority-pool a label grid by ``factor`` along every axis.

    The rule of MonoScene / OccDepth ``_downsample_label``, per
    ``factor**3`` block: if ``#0 + #255 > 0.95 * factor**3`` the block is 0
    when ``#0 > #255`` and 255 otherwise; else it is the most frequent label
    in 1..254, ties going to the smaller id.

    Args:
        labels: uint8 grid ``(X, Y, Z)``, each dimension divisible by
            ``factor``.
        factor: Integer downsampling factor (1 returns a copy).

    Returns:
        uint8 grid ``(X // factor, Y // factor, Z // factor)``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3 or labels.size == 0:
        raise ValueError(f'expected a non-empty 3D label grid, got shape '
                         f'{labels.shape}')
    if labels.dtype != np.uint8:
        raise ValueError(f'labels must be uint8, got {labels.dtype}')
    if int(factor) != factor or factor < 1:
        raise ValueError(f'factor must be a positive integer, got {factor}')
    factor = int(factor)
    if any(n % factor for n in labels.shape):
        raise ValueError(f'grid {labels.shape} is not divisible by the '
                         f'downsampling factor {factor}')
    if factor == 1:
        return labels.copy()
    out_shape = tuple(n // factor for n in labels.shape)
    blocks = _blocks(labels, factor)
    num_blocks, volume = blocks.shape

    # Count (block, label) pairs over the labels that occur only, so that
    # the table stays small: (num_blocks, number of distinct labels).
    present = np.flatnonzero(np.bincount(labels.reshape(-1), minlength=256))
    compact = np.zeros(256, dtype=np.int64)
    compact[present] = np.arange(present.size)
    keys = (
        np.arange(num_blocks, dtype=np.int64)[:, None] * present.size +
        compact[blocks])
    counts = np.bincount(
        keys.reshape(-1),
        minlength=num_blocks * present.size).reshape(num_blocks, present.size)

    # ``present`` ascends: empty (0) is the first column and ignore (255)
    # the last one when they occur, the classes 1..254 lie in between.
    zeros = np.zeros(num_blocks, dtype=np.int64)
    has_empty = present[0] == 0
    has_ignore = present[-1] == IGNORE_INDEX
    num_empty = counts[:, 0] if has_empty else zeros
    num_ignore = counts[:, -1] if has_ignore else zeros
    mostly_empty = num_empty + num_ignore > EMPTY_BLOCK_RATIO * volume
    out = np.where(num_empty > num_ignore, 0, IGNORE_INDEX).astype(np.uint8)

    first, stop = int(has_empty), present.size - int(has_ignore)
    if stop > first:
        # argmax returns the first maximum: class ids ascend, so ties go
        # to the smaller id.
        majority = present[first:stop][np.argmax(
            counts[:, first:stop], axis=1)]
        out = np.where(mostly_empty, out, majority).astype(np.uint8)
    return out.reshape(out_shape)


def labels_at_scales(
    labels: np.ndarray, factors: Sequence[int] = (1, 2, 8)
) -> Dict[str, np.ndarray]:
    """Labels at several resolutions, each pooled from the full grid.

    Args:
        labels: uint8 full-resolution grid.
        factors: Downsampling factors.

    Returns:
        dict: ``'1_{factor}'`` -> uint8 grid, e.g. ``'1_1'``, ``'1_8'``.
    """
    return {f'1_{f}': downsample_labels(labels, f) for f in factors}


def empty_kitti_reason(num_voxels: int, num_invalid: int,
                       num_unknown: int) -> str:
    """Why a SemanticKITTI frame has no voxel left after remapping.

    Args:
        num_voxels: Voxels of the grid.
        num_invalid: Voxels flagged in the ``.invalid`` file.
        num_unknown: Voxels whose raw id is absent from the learning map.
    """
    if num_invalid == num_voxels:
        return f'all {num_voxels} voxels are flagged in the .invalid file'
    if num_unknown == num_voxels:
        return (f'all {num_voxels} voxels hold raw ids absent from the '
                f'SemanticKITTI learning map')
    return (f'of its {num_voxels} voxels, {num_invalid} are flagged in the '
            f'.invalid file, {num_unknown} hold raw ids absent from the '
            f'learning map and the others raw ids the benchmark ignores '
            f'(outlier, other-structure, other-object)')


class EmptyLabelReporter:
    """Warn about label grids in which every voxel is ignored.

    Such a frame gives the losses nothing to learn from; in a validation
    split it adds nothing to the metric. Each file is reported the first
    time this process loads it, with the reason and the running count of
    such files. After ``max_listed`` files only the counts ``2 *
    max_listed``, ``4 * max_listed``, ... are reported, so a broken sequence
    of thousands of frames adds a handful of lines to a multi-day log.
    Dataloader workers keep their own count (once per epoch unless the
    workers persist).

    Args:
        max_listed: Number of files reported one by one.
    """

    def __init__(self, max_listed: int = 10) -> None:
        if max_listed < 1:
            raise ValueError(f'max_listed must be >= 1, got {max_listed}')
        self.max_listed = max_listed
        self.count = 0
        self._next_report = 2 * max_listed
        self._seen: Set[str] = set()

    def check(self, labels: np.ndarray, path: str, reason) -> bool:
        """Report ``path`` if ``labels`` holds no voxel other than 255.

        Args:
            labels: Training-id grid.
            path: File the labels come from, named in the warning.
            reason: Callable returning why the grid is empty; called only
                for an empty grid.

        Returns:
            Whether the grid is empty.
        """
        if np.any(labels != IGNORE_INDEX):
            return False
        if path in self._seen:
            return True
        self._seen.add(path)
        self.count += 1
        if self.count > self.max_listed:
            if self.count < self._next_report:
                return True
            self._next_report *= 2
        tail = ''
        if self.count == self.max_listed:
            tail = (f'; further ones are reported at the counts '
                    f'{2 * self.max_listed}, {4 * self.max_listed}, ...')
        print_log(
            f'{path}: no voxel to learn from ({reason()}); every voxel is '
            f'ignored ({IGNORE_INDEX}). {self.count} such frame(s) so far in '
            f'this process{tail}',
            logger='current',
            level=logging.WARNING)
        return True
