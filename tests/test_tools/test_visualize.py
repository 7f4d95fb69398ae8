"""tools/visualize.py: grid file -> PNG, PLY, HTML in one command each."""
import os

import numpy as np
from PIL import Image

from projects.OccDepth.occdepth.datasets.io import write_label
from projects.OccDepth.occdepth.datasets.label_maps import \
    SEMANTICKITTI_PALETTE
from projects.OccDepth.occdepth.visualization.comparison import TITLE_STRIP
from projects.OccDepth.occdepth.visualization.html_viewer import read_page_data
from tools import visualize

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRID = ['--grid-size', '16', '16', '4']
CAR_RAW, ROAD_RAW, TRUCK_RAW = 10, 40, 18
CAR, ROAD, TRUCK = 1, 9, 4


def _files(tmp_path):
    gt = np.zeros((16, 16, 4), np.uint16)
    gt[:, :, 0] = ROAD_RAW
    gt[5:9, 5:9, 1:3] = CAR_RAW
    pred = gt.copy()
    pred[5:9, 5:9, 1:3] = TRUCK_RAW  # what learning_map_inv writes for 4
    write_label(str(tmp_path / 'gt.label'), gt)
    write_label(str(tmp_path / 'pred.label'), pred)
    image = np.zeros((30, 100, 3), np.uint8)
    image[:] = (10, 200, 30)
    Image.fromarray(image).save(tmp_path / 'image.png')
    return str(tmp_path / 'pred.label'), str(tmp_path / 'gt.label')


def _count(img, colour):
    return int(np.all(img == np.asarray(colour, np.uint8), axis=-1).sum())


def test_png_ply_html_of_label_files(tmp_path, capsys):
    pred, gt = _files(tmp_path)
    png, ply, page = (
        str(tmp_path / f'out.{e}') for e in ('png', 'ply', 'html'))
    assert visualize.main([
        pred, '--gt', gt, '--image',
        str(tmp_path / 'image.png'), *GRID, '--size', '90', '120', '--out',
        png, ply, page
    ]) == 0
    out = capsys.readouterr().out
    assert f'wrote {png}: 360x114 render of 2 grid(s), 1 view(s)' in out
    img = np.asarray(Image.open(png))
    assert img.shape == (90 + TITLE_STRIP, 3 * 120, 3)
    image_panel, pred_panel, gt_panel = (
        img[:, i * 120:(i + 1) * 120] for i in range(3))
    assert _count(image_panel, (10, 200, 30)) > 0
    # the block is a truck in the prediction and a car in the ground truth,
    # top faces in their exact palette colours
    assert _count(pred_panel, SEMANTICKITTI_PALETTE[TRUCK]) > 10
    assert _count(pred_panel, SEMANTICKITTI_PALETTE[CAR]) == 0
    assert _count(gt_panel, SEMANTICKITTI_PALETTE[CAR]) > 10
    assert _count(gt_panel, SEMANTICKITTI_PALETTE[TRUCK]) == 0
    # PLY of the prediction: road slab 2 * 256 + 64 - 16 faces, block
    # 16 + 32 faces; 4 vertices each
    header = open(ply, 'rb').read(400).split(b'end_header')[0].decode()
    assert 'element face 608' in header
    assert 'element vertex 2432' in header
    data = read_page_data(page)
    assert [g['name'] for g in data['grids']] == ['Prediction', 'Ground truth']
    pred_faces = np.array(data['grids'][0]['faces']).reshape(-1, 5)
    gt_faces = np.array(data['grids'][1]['faces']).reshape(-1, 5)
    assert np.count_nonzero(pred_faces[:, 4] == TRUCK) == 48
    assert np.count_nonzero(gt_faces[:, 4] == CAR) == 48
    colours = {c['id']: c['color'] for c in data['classes']}
    assert colours[TRUCK] == list(SEMANTICKITTI_PALETTE[TRUCK])
    assert colours[CAR] == list(SEMANTICKITTI_PALETTE[CAR])


def test_npy_with_config_and_several_views(tmp_path):
    grid = np.zeros((128, 128, 16), np.uint8)
    grid[60:64, 60:64, 0:2] = CAR
    np.save(tmp_path / 'grid.npy', grid)
    png = str(tmp_path / 'views.png')
    assert visualize.main([
        str(tmp_path / 'grid.npy'), '--config',
        os.path.join(ROOT, 'configs', 'occdepth_demo.py'), '--view', '-150',
        '40', '--view', '180', '90', '--size', '60', '80', '--out', png
    ]) == 0
    img = np.asarray(Image.open(png))
    assert img.shape == (2 * (60 + TITLE_STRIP), 80, 3)
    for row in (img[:60 + TITLE_STRIP], img[60 + TITLE_STRIP:]):
        assert _count(row, SEMANTICKITTI_PALETTE[CAR]) > 0


def test_clear_errors(tmp_path, capsys):
    pred, gt = _files(tmp_path)
    # the default grid is SemanticKITTI's 256 x 256 x 32
    assert visualize.main([pred, '--out', str(tmp_path / 'a.png')]) == 1
    err = capsys.readouterr().err
    assert f'error: {pred}: 2048 bytes do not fit the grid (256, 256, 32)' \
        in err
    assert '--grid-size' in err
    assert visualize.main([pred, *GRID, '--out', str(tmp_path / 'a.jpg')]) == 1
    assert "unknown output format '.jpg'" in capsys.readouterr().err
    assert visualize.main(
        [pred, '--dataset', 'nyu', *GRID, '--out',
         str(tmp_path / 'a.png')]) == 1
    assert 'hold SemanticKITTI raw ids; the dataset here is nyu' in \
        capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'a.png')
