"""Tiny SemanticKITTI-format fixtures written with the project's io writers.

Layout of :func:`make_kitti` (grid 16 x 16 x 8, images 40 x 24):

- every labelled frame has raw road (40) on ``z < 2`` for ``y < 8``, a car
  (10) at ``x 4:8, y 4:8, z 2:4``, one voxel of the unknown raw id 999 at
  ``(0, 0, 7)`` and an ``.invalid`` plane at ``x = 15``;
- the calibration is a small pinhole camera (f = 20 px, principal point
  (17, 11)) with a 0.54 m stereo baseline and the KITTI velodyne -> camera
  axis permutation;
- the depth map of frame ``f`` is ``(u + 1) / 4 + f_index`` metres.

Test modules reach these helpers through the ``kitti_helpers`` fixture, which
works under every pytest import mode.
"""
import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from projects.OccDepth.occdepth.datasets import io

GRID = (16, 16, 8)
IMG_HW = (24, 40)
BASELINE = 0.54
TINY_CALIB = dict(
    P2=np.array([[20.0, 0, 17, 0], [0, 20, 11, 0], [0, 0, 1, 0]]),
    P3=np.array([[20.0, 0, 17, -20 * BASELINE], [0, 20, 11, 0], [0, 0, 1, 0]]),
    Tr=np.array([[0.0, -1, 0, 0], [0, 0, -1, -0.08], [1, 0, 0, -0.27]]))


def fixture_labels():
    """Raw labels and invalid mask of a labelled fixture frame."""
    raw = np.zeros(GRID, dtype=np.uint16)
    raw[:, :8, :2] = 40
    raw[4:8, 4:8, 2:4] = 10
    raw[0, 0, 7] = 999
    invalid = np.zeros(GRID, dtype=np.uint8)
    invalid[15] = 1
    return raw, invalid


def expected_labels():
    """Training ids of :func:`fixture_labels`, written by hand."""
    gt = np.zeros(GRID, dtype=np.uint8)
    gt[:, :8, :2] = 9
    gt[4:8, 4:8, 2:4] = 1
    gt[0, 0, 7] = 255
    gt[15] = 255
    return gt


def fixture_image(seed, hw=IMG_HW):
    return np.random.RandomState(seed).randint(
        0, 256, size=(*hw, 3), dtype=np.uint8)


def fixture_depth(index, hw=IMG_HW):
    u = np.arange(hw[1], dtype=np.float32)
    return np.broadcast_to((u + 1) / 4 + index, hw).astype(np.float32)


def make_kitti(root, sequences, calib=None, img_hw=IMG_HW, depth_root=None):
    """Write a SemanticKITTI-format tree.

    Args:
        root: Folder that will hold ``sequences/``.
        sequences: ``{seq: (frames, labelled)}``.
        calib: Calibration dict (default :data:`TINY_CALIB`).
        img_hw: Image size.
        depth_root: If given, also write depth PNGs there.
    """
    calib = TINY_CALIB if calib is None else calib
    raw, invalid = fixture_labels()
    occupied = (raw > 0).astype(np.uint8)
    for seq, (frames, labelled) in sequences.items():
        seq_dir = os.path.join(root, 'sequences', seq)
        for sub in ('voxels', 'image_2', 'image_3'):
            os.makedirs(os.path.join(seq_dir, sub), exist_ok=True)
        io.write_calib(
            os.path.join(seq_dir, 'calib.txt'), dict(P0=calib['P2'], **calib))
        for i, frame in enumerate(frames):
            vox = os.path.join(seq_dir, 'voxels', frame)
            io.write_voxel_bits(f'{vox}.bin', occupied)
            if labelled:
                io.write_label(f'{vox}.label', raw)
                io.write_voxel_bits(f'{vox}.invalid', invalid)
            for view, sub in enumerate(('image_2', 'image_3')):
                img = fixture_image(100 * i + view, img_hw)
                Image.fromarray(img).save(
                    os.path.join(seq_dir, sub, f'{frame}.png'))
            if depth_root is not None:
                depth_dir = os.path.join(depth_root, 'sequences', seq, 'depth')
                os.makedirs(depth_dir, exist_ok=True)
                io.write_depth_png(
                    os.path.join(depth_dir, f'{frame}.png'),
                    fixture_depth(i, img_hw))
    return root


@pytest.fixture
def kitti_root(tmp_path):
    """Sequences 00 (2 labelled frames), 08 (1) and 11 (1, no labels)."""
    root = str(tmp_path / 'kitti')
    make_kitti(
        root, {
            '00': (['000000', '000005'], True),
            '08': (['000010'], True),
            '11': (['000000'], False),
        },
        depth_root=str(tmp_path / 'depth'))
    return root


@pytest.fixture
def kitti_helpers():
    """The constants and writers of this module."""
    return SimpleNamespace(
        GRID=GRID,
        IMG_HW=IMG_HW,
        BASELINE=BASELINE,
        TINY_CALIB=TINY_CALIB,
        fixture_labels=fixture_labels,
        expected_labels=expected_labels,
        fixture_image=fixture_image,
        fixture_depth=fixture_depth,
        make_kitti=make_kitti)
