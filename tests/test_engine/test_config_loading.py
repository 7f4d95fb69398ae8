"""Config loading shared by the tools: overrides and the image size rule."""
import pytest

from projects.OccDepth.occdepth.engine.config_loading import (image_size,
                                                              load_config)


def _write(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return str(path)


def test_overrides_and_top_level_crop_size(tmp_path):
    path = _write(
        tmp_path, 'crop_size = (370, 1220)\n'
        'model = dict(type="OccDepth", depth_scale=100.0)\n')
    cfg = load_config(path, {'model.depth_scale': 256.0})
    assert cfg.model.depth_scale == 256.0
    assert image_size(cfg) == (370, 1220)
    assert image_size(cfg, [185, 610]) == (185, 610)


def test_crop_size_of_the_training_pipeline(tmp_path):
    path = _write(
        tmp_path, 'train_dataloader = dict(dataset=dict(pipeline=['
        'dict(type="LoadStereoImages", crop_size=(96, 320)),'
        'dict(type="PackSSCInputs")]))\n')
    assert image_size(load_config(path)) == (96, 320)


def test_missing_size_names_the_file(tmp_path):
    path = _write(
        tmp_path, 'train_dataloader = dict(dataset=dict(pipeline=['
        'dict(type="LoadStereoImages", crop_size=None)]))\n')
    with pytest.raises(ValueError, match='cfg.py.*--shape H W'):
        image_size(load_config(path))
