"""tools/browse_dataset.py on a tiny synthetic SemanticKITTI dataset."""
import os

import numpy as np
import pytest
from PIL import Image

from projects.OccDepth.occdepth.datasets.label_maps import \
    SEMANTICKITTI_PALETTE
from tools import browse_dataset
from tools.dataset_converters import synthetic_kitti

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, 'configs', 'occdepth_demo.py')
IMG_HW = (48, 160)
GRID = (64, 64, 16)
VOXEL = 0.8
# index of RandomStereoFlip in the synthetic KITTI training pipeline
FLIP_STEP = 4
GREY = (128, 128, 128)


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    """One frame; its images are grey so the overlay shows (the synthetic
    images are drawn in shaded class colours: kept as ``*_classes.png``)."""
    root = str(tmp_path_factory.mktemp('browse_kitti'))
    synthetic_kitti.generate_dataset(
        root,
        sequences=('00', ),
        frames=1,
        image_size=IMG_HW,
        grid_size=GRID,
        voxel_size=VOXEL)
    for cam in ('image_2', 'image_3'):
        path = os.path.join(root, 'sequences', '00', cam, '000000.png')
        os.rename(path, path.replace('.png', '_classes.png'))
        Image.new('RGB', IMG_HW[::-1], GREY).save(path)
    return root


def _run(root, out_dir, flip_prob):
    options = [
        f'train_dataloader.dataset.data_root={root}',
        f'train_dataloader.dataset.depth_root={root}/depth',
        "train_dataloader.dataset.sequences=['00']",
        f'train_dataloader.dataset.grid_size={GRID}',
        f'train_dataloader.dataset.voxel_size={VOXEL}',
        f'train_dataloader.dataset.pipeline.0.crop_size={IMG_HW}',
        f'train_dataloader.dataset.pipeline.2.crop_size={IMG_HW}',
        f'train_dataloader.dataset.pipeline.{FLIP_STEP}.prob={flip_prob}',
    ]
    return browse_dataset.main([
        CONFIG, '--split', 'train', '--frames', '3', '--out-dir',
        str(out_dir), '--cfg-options', *options
    ])


def _read(folder, suffix):
    return np.asarray(Image.open(folder / f'0000_00_000000_{suffix}.png'))


def test_browse_folder_lines_up_under_flip(tiny_root, tmp_path, capsys):
    plain, flipped = tmp_path / 'plain', tmp_path / 'flipped'
    assert _run(tiny_root, plain, 0.0) == 0
    out = capsys.readouterr().out
    # one frame in the dataset: --frames 3 writes what there is
    assert '0000_00_000000: left, right, depth, grid, flip=False' in out
    assert 'wrote 4 pictures' in out
    assert _run(tiny_root, flipped, 1.0) == 0
    assert 'flip=True' in capsys.readouterr().out
    np.testing.assert_array_equal(
        _read(flipped, 'depth'),
        _read(plain, 'depth')[:, ::-1])
    for suffix in ('left', 'right'):
        a, b = _read(plain, suffix), _read(flipped, suffix)
        assert a.shape == IMG_HW + (3, )
        # the class colours show on the (jittered, still grey) image
        assert (a.max(-1) != a.min(-1)).mean() > 0.5
        # projected through ida_mat, the overlaid voxels are mirrored with
        # the image (but for pixel-rounding ties)
        assert (b != a[:, ::-1]).any(-1).mean() < 0.005
    # the grid render shows the un-augmented scene either way
    np.testing.assert_array_equal(_read(plain, 'grid'), _read(flipped, 'grid'))


def test_overlay_blends_class_colours_onto_the_image(tiny_root, tmp_path):
    """The val pipeline feeds the raw (cropped) grey image: every pixel of a
    picture is grey or half grey, half the colour of the class projected
    there, and that class is the one the synthetic scene shows there."""
    options = [
        f'val_dataloader.dataset.data_root={tiny_root}',
        "val_dataloader.dataset.sequences=['00']",
        f'val_dataloader.dataset.grid_size={GRID}',
        f'val_dataloader.dataset.voxel_size={VOXEL}',
        f'val_dataloader.dataset.pipeline.0.crop_size={IMG_HW}',
    ]
    assert browse_dataset.main([
        CONFIG, '--split', 'val', '--out-dir',
        str(tmp_path), '--cfg-options', *options
    ]) == 0
    # no depth map in the val pipeline
    assert sorted(os.listdir(tmp_path)) == [
        f'0000_00_000000_{s}.png' for s in ('grid', 'left', 'right')
    ]
    palette = np.asarray(SEMANTICKITTI_PALETTE, dtype=float)
    for suffix, cam in (('left', 'image_2'), ('right', 'image_3')):
        picture = _read(tmp_path, suffix).astype(float)
        blends = np.rint(0.5 * np.asarray(GREY) + 0.5 * palette)
        match = np.all(picture[:, :, None] == blends, axis=-1)
        match[:, :, 0] = np.all(picture == GREY, axis=-1)  # not covered
        assert match.any(-1).all()
        overlay_class = match.argmax(-1)
        covered = overlay_class > 0
        assert covered.mean() > 0.5
        # the class whose colour direction is nearest the scene's pixel
        scene = np.asarray(
            Image.open(
                os.path.join(tiny_root, 'sequences', '00', cam,
                             '000000_classes.png'))).astype(float)
        unit = palette[1:] / np.linalg.norm(palette[1:], axis=1)[:, None]
        scene_class = 1 + np.argmax(scene @ unit.T, axis=-1)
        agree = (scene_class == overlay_class)[covered].mean()
        assert agree > 0.8, f'{suffix}: labels line up on {agree:.0%}'


def test_missing_split_is_an_error(tmp_path, capsys):
    cfg = tmp_path / 'no_test.py'
    cfg.write_text(f"_base_ = ['{CONFIG}']\ntest_dataloader = None\n")
    assert browse_dataset.main(
        [str(cfg), '--split', 'test', '--out-dir',
         str(tmp_path)]) == 1
    assert 'no test_dataloader.dataset' in capsys.readouterr().err
