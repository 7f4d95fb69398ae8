"""ONNX export of the inference path (tiny model, 32 x 96 stereo images).

The wrapper must compute exactly what the model computes and keep the
calibration as a graph input (a traced graph must follow a new
calibration). The ONNX file itself is written and checked when ``onnx`` is
installed, and compared with PyTorch when ``onnxruntime`` is.
"""
import importlib.util
import os
import types

import numpy as np
import pytest
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    kitti_example_calibration
from projects.OccDepth.occdepth.models.utils import onnx_export as ox

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMG_HW = (32, 96)


def _load(name, relpath):
    spec = importlib.util.spec_from_file_location(name,
                                                  os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


occdepth_tests = _load('_occdepth_model_tests',
                       'tests/test_models/test_occdepth.py')
cli = _load('_export_onnx', 'tools/export_onnx.py')


@pytest.fixture(scope='module')
def exported():
    """A tiny model in eval mode, its wrapper and example inputs."""
    init_default_scope('mmdet3d')  # module fixtures run before conftest's
    torch.manual_seed(0)
    model = MODELS.build(occdepth_tests.small_model_cfg()).eval()
    inputs = ox.example_inputs(IMG_HW, num_views=2, seed=1)
    wrapper = ox.OccDepthExportWrapper(model)
    with torch.no_grad():
        logits = wrapper(*inputs)
    return dict(model=model, wrapper=wrapper, inputs=inputs, logits=logits)


def test_wrapper_computes_the_model_output(exported):
    model = exported['model']
    imgs, cam2img, lidar2cam = exported['inputs']
    sample = Det3DDataSample(
        metainfo=dict(
            cam2img=cam2img[0].numpy(),
            lidar2cam=lidar2cam[0].numpy(),
            ida_mat=np.eye(3),
            img_shape=IMG_HW))
    batch = dict(inputs=dict(imgs=[imgs[0]]), data_samples=[sample])
    with torch.no_grad():
        expected = model(**model.data_preprocessor(batch), mode='tensor')
    got = exported['logits']
    assert got.shape == (1, 20, *occdepth_tests.GRID)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def _other_calibration(inputs):
    """Shorter focal lengths, the right camera 1.5 m further right."""
    imgs, cam2img, lidar2cam = inputs
    cam2img, lidar2cam = cam2img.clone(), lidar2cam.clone()
    cam2img[..., :2, :2] *= 0.8
    lidar2cam[:, 1, 0, 3] -= 1.5
    return imgs, cam2img, lidar2cam


def test_traced_graph_takes_the_calibration_as_input(exported):
    wrapper = exported['wrapper']
    other = _other_calibration(exported['inputs'])
    with torch.no_grad():
        traced = torch.jit.trace(
            wrapper, exported['inputs'], check_trace=False)
        expected = wrapper(*other)
        got = traced(*other)
    # the new calibration changes the result, and the graph follows it
    assert (expected - exported['logits']).abs().max() > 1e-3
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_export_rejects_what_onnx_cannot_express(exported, tmp_path):
    with pytest.raises(ValueError, match='opset 17'):
        ox.export_onnx(
            exported['wrapper'],
            exported['inputs'],
            str(tmp_path / 'm.onnx'),
            opset=17)
    with pytest.raises(ValueError, match='virtual_stereo'):
        ox.OccDepthExportWrapper(types.SimpleNamespace(virtual_stereo=1))
    with pytest.raises(ValueError, match='1 or 2'):
        kitti_example_calibration(IMG_HW, num_views=3)


def _check_onnx_file(path, inputs):
    onnx = pytest.importorskip('onnx')
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == list(ox.INPUT_NAMES)
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in proto.graph.input]
    assert dims == [list(t.shape) for t in inputs]
    opsets = {o.domain: o.version for o in proto.opset_import}
    assert opsets.get('', opsets.get('ai.onnx')) >= 20
    assert 'GridSample' in {n.op_type for n in proto.graph.node}


def test_export_matches_pytorch(exported, tmp_path):
    pytest.importorskip('onnx')
    path = str(tmp_path / 'occdepth.onnx')
    ox.export_onnx(exported['wrapper'], exported['inputs'], path)
    # the exporter restores the modes it found: eval everywhere
    assert not any(m.training for m in exported['wrapper'].modules())
    _check_onnx_file(path, exported['inputs'])
    pytest.importorskip('onnxruntime')
    wrapper = exported['wrapper']
    assert ox.max_abs_difference(path, wrapper, exported['inputs']) < 1e-4
    other = _other_calibration(exported['inputs'])
    assert ox.max_abs_difference(path, wrapper, other) < 1e-4


def test_cli_exports_or_names_the_missing_package(tmp_path, capsys):
    config = str(tmp_path / 'tiny_model.py')
    Config(dict(model=occdepth_tests.small_model_cfg())).dump(config)
    out = str(tmp_path / 'cli.onnx')
    code = cli.main(
        [config, '--out', out, '--shape',
         str(IMG_HW[0]),
         str(IMG_HW[1])])
    printed = capsys.readouterr().out
    if importlib.util.find_spec('onnx') is None:
        assert code == 1
        assert "needs the 'onnx' package" in printed
        assert 'requirements/optional.txt' in printed
        assert not os.path.exists(out)
    else:
        assert code == 0 and os.path.getsize(out) > 0
        assert 'inputs imgs (1, 2, 3, 32, 96)' in printed
