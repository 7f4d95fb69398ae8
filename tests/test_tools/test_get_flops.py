"""tools/analysis_tools/get_flops.py on the demo config at 32 x 96 pixels.

The SSC head and the OAD depth network are counted by hand from the
config: FlopCounterMode counts 2 FLOPs per multiply-add of every conv and
linear layer.
"""
import importlib.util
import math
import os
import re

import pytest
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, 'configs', 'occdepth_demo.py')
IMG_HW = (32, 96)
TABLE_ROW = re.compile(r'^(.{34})\s*(\d+\.\d{3})\s+(\d+\.\d{2})$')

_spec = importlib.util.spec_from_file_location(
    '_get_flops', os.path.join(ROOT, 'tools', 'analysis_tools',
                               'get_flops.py'))
get_flops = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(get_flops)


@pytest.fixture(scope='module')
def counted():
    init_default_scope('mmdet3d')  # module fixtures run before conftest's
    cfg = Config.fromfile(DEMO)
    model = MODELS.build(cfg.model)
    rows = get_flops.count(model, IMG_HW)
    return dict(cfg=cfg.model, model=model, rows={r.name: r for r in rows})


def test_parts_add_up_to_the_model(counted):
    rows = counted['rows']
    assert list(rows) == [
        '2D backbone (EfficientNet UNet)', 'view transformer (Stereo-SFA)',
        'depth head (OAD)', '3D UNet + CRP', 'SSC head', 'other'
    ]
    total = sum(p.numel() for p in counted['model'].parameters())
    assert sum(r.params for r in rows.values()) == total
    for name in ('2D backbone (EfficientNet UNet)', 'depth head (OAD)',
                 '3D UNet + CRP', 'SSC head'):
        assert rows[name].params > 0 and rows[name].flops > 0, name
    assert rows['other'].params == 0


def _projection_flops(part, views=2):
    """Voxel centres x 3 x 3 rotation (einsum) per view."""
    return 2 * 9 * math.prod(part.grid_size) * views


def test_stereo_sfa_by_hand(counted):
    # cosine fusion: no weights; only the projection is a matrix product
    row = counted['rows']['view transformer (Stereo-SFA)']
    assert row.params == 0
    assert row.flops == _projection_flops(counted['model'].view_transformer)


def test_ssc_head_by_hand(counted):
    cfg = counted['cfg']
    planes = cfg['feature_channels'] // 2
    classes = cfg['occ_head']['num_classes']
    voxels = math.prod(cfg['grid_size'])
    k = 27
    # conv0, 3 x 2 ASPP convs, occ_classes, conv_classes (planes + 2 in)
    macs = k * (planes * planes * 7 + planes * 2 + (planes + 2) * classes)
    params = (
        k * planes * planes + planes  # conv0
        + 6 * k * planes * planes + 6 * 2 * planes  # ASPP + BN
        + k * planes * 2 + 2  # occ_classes
        + k * (planes + 2) * classes + classes)  # conv_classes
    row = counted['rows']['SSC head']
    assert row.params == params
    assert row.flops == 2 * macs * voxels


def test_depth_head_by_hand(counted):
    head = counted['cfg']['depth_head']
    c, m = counted['cfg']['feature_channels'], head['mid_channels']
    bins = round((head['depth_bound'][1] - head['depth_bound'][0]) /
                 head['depth_bound'][2])
    stride = head['feature_stride']
    pixels = math.ceil(IMG_HW[0] / stride) * math.ceil(IMG_HW[1] / stride)
    views = 2
    per_pixel = 9 * c * m + 6 * 9 * m * m + m * bins
    per_view = 1 * m + m * m + 2 * m * m  # MLP (1 -> m -> m), SE convs
    row = counted['rows']['depth head (OAD)']
    assert row.flops == (2 * views * (pixels * per_pixel + per_view) +
                         _projection_flops(counted['model'].depth_head))


def test_cli_prints_the_table(counted, capsys):
    assert get_flops.main([DEMO, '--shape', *map(str, IMG_HW)]) == 0
    out = capsys.readouterr().out
    assert '2 view(s) of 32 x 96, output grid 128 x 128 x 16' in out
    lines = {
        m.group(1).strip(): [m.group(2), m.group(3)]
        for m in map(TABLE_ROW.match, out.splitlines()) if m
    }
    parts = [v for k, v in lines.items() if k != 'total']
    assert len(parts) == 6
    total = lines['total']
    assert abs(sum(float(p[0]) for p in parts) - float(total[0])) < 0.01
    assert float(total[1]) > 0
    ssc = counted['rows']['SSC head']
    assert lines['SSC head'] == [
        f'{ssc.params / 1e6:.3f}', f'{ssc.flops / 1e9:.2f}'
    ]
