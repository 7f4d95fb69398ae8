"""A tiny synthetic SemanticKITTI-format dataset and a tiny OccDepth config
for runtime tests (training, resume, distributed, tools)."""
import os
import subprocess
import sys

import pytest
from mmengine.config import Config

from tools.dataset_converters import synthetic_kitti

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG_HW = (48, 160)
GRID = (64, 64, 16)
VOXEL = 0.8


@pytest.fixture(scope='session')
def tiny_kitti(tmp_path_factory):
    """Sequences 00 (2 frames) and 08 (2 frames) at a tiny size."""
    root = str(tmp_path_factory.mktemp('tiny_kitti'))
    synthetic_kitti.generate_dataset(
        root,
        sequences=('00', '08'),
        frames=2,
        image_size=IMG_HW,
        grid_size=GRID,
        voxel_size=VOXEL)
    return root


def tiny_config_options(data_root: str, work_dir: str) -> dict:
    """--cfg-options turning configs/occdepth_demo.py into a tiny run.

    The model hands its grid and width to its parts: SFA / OAD on
    ``GRID / 2`` voxels of ``2 * VOXEL`` (the demo's project_scale 2), 8
    feature channels everywhere.
    """
    return {
        'work_dir': work_dir,
        'model.grid_size': GRID,
        'model.voxel_size': VOXEL,
        'model.feature_channels': 8,
        'model.depth_head.mid_channels': 8,
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.depth_root':
        os.path.join(data_root, 'depth'),
        'train_dataloader.dataset.sequences': ['00'],
        'train_dataloader.dataset.grid_size': GRID,
        'train_dataloader.dataset.voxel_size': VOXEL,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.grid_size': GRID,
        'val_dataloader.dataset.voxel_size': VOXEL,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.grid_size': GRID,
        'test_dataloader.dataset.voxel_size': VOXEL,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'default_hooks.logger.interval': 1,
    }


def set_crop(cfg: Config) -> None:
    """Use the tiny image size in every pipeline."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for step in cfg[loader].dataset.pipeline:
            if 'crop_size' in step:
                step['crop_size'] = IMG_HW


def _tiny_config(data_root: str, work_dir: str) -> Config:
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'occdepth_demo.py'))
    cfg.merge_from_dict(tiny_config_options(data_root, work_dir))
    set_crop(cfg)
    return cfg


@pytest.fixture
def tiny_config():
    """``tiny_config(data_root, work_dir)`` -> the tiny demo Config."""
    return _tiny_config


@pytest.fixture
def tiny_options():
    """``tiny_options(data_root, work_dir)`` -> the --cfg-options dict."""
    return tiny_config_options


def _run_python(args: list) -> subprocess.CompletedProcess:
    """``python ARGS`` from the repository root with one OpenMP thread,
    output captured as text, at most 10 minutes."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable] + list(args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)


@pytest.fixture
def run_python():
    """``run_python(args)`` -> the CompletedProcess of ``python ARGS``."""
    return _run_python
