"""The self-contained HTML viewer: its data, and the page in Chromium."""
import os
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_CLASSES, SEMANTICKITTI_PALETTE)
from projects.OccDepth.occdepth.visualization.html_viewer import (
    face_records, read_page_data, write_html)

CHROMIUM = '/usr/bin/chromium'
CAR, ROAD = 1, 9


def _scene():
    grid = np.zeros((16, 16, 4), dtype=np.uint8)
    grid[:, :, 0] = ROAD
    grid[5:9, 5:9, 1:3] = CAR
    grid[12, 12, 1] = 255  # ignored, never drawn
    return grid


def test_face_records_of_one_voxel():
    grid = np.zeros((3, 3, 3), dtype=np.uint8)
    grid[1, 2, 0] = 4
    # (i, j, k, direction = 2 * axis + (normal negative), label), in the
    # order x+, x-, y+, y-, z+, z-
    expected = [[1, 2, 0, d, 4] for d in (0, 1, 2, 3, 4, 5)]
    assert face_records(grid, SEMANTICKITTI_PALETTE).tolist() == expected


def test_face_records_hide_shared_faces():
    grid = np.zeros((3, 1, 1), dtype=np.uint8)
    grid[0, 0, 0], grid[1, 0, 0] = 2, 3
    rows = face_records(grid, SEMANTICKITTI_PALETTE).tolist()
    # the two faces between the voxels are not exposed: 12 - 2 faces
    assert len(rows) == 10
    assert [1, 0, 0, 0, 3] in rows and [0, 0, 0, 1, 2] in rows
    assert [0, 0, 0, 0, 2] not in rows and [1, 0, 0, 1, 3] not in rows


def test_page_inlines_the_surfaces_of_the_grids(tmp_path):
    grid = _scene()
    gt = grid.copy()
    gt[5:9, 5:9, 1:3] = 0
    path = str(tmp_path / 'scene.html')
    num = write_html(
        path, {
            'Prediction': grid,
            'Ground truth': gt
        },
        SEMANTICKITTI_CLASSES,
        SEMANTICKITTI_PALETTE,
        voxel_size=0.2,
        origin=(0.0, -25.6, -2.0))
    data = read_page_data(path)
    assert [g['name'] for g in data['grids']] == ['Prediction', 'Ground truth']
    pred = np.array(data['grids'][0]['faces']).reshape(-1, 5)
    np.testing.assert_array_equal(pred,
                                  face_records(grid, SEMANTICKITTI_PALETTE))
    # road slab: 16 x 16 top + bottom, 4 x 16 sides, minus the 16 top faces
    # under the car; car block: 4 x 4 top, 4 x (4 x 2) sides
    assert np.count_nonzero(pred[:, 4] == ROAD) == 2 * 256 + 64 - 16
    assert np.count_nonzero(pred[:, 4] == CAR) == 16 + 32
    gt_faces = np.array(data['grids'][1]['faces']).reshape(-1, 5)
    assert set(gt_faces[:, 4]) == {ROAD} and len(gt_faces) == 2 * 256 + 64
    assert num == len(pred) + len(gt_faces)
    # the legend lists the drawn classes in their palette colours
    assert data['classes'] == [
        dict(id=CAR, name='car', color=list(SEMANTICKITTI_PALETTE[CAR])),
        dict(id=ROAD, name='road', color=list(SEMANTICKITTI_PALETTE[ROAD]))
    ]
    assert data['voxelSize'] == [0.2] * 3 and data['gridSize'] == [16, 16, 4]
    # self-contained: no resource is fetched from anywhere
    text = open(path).read()
    assert not re.search(r'(src|href)\s*=|https?:|@import|fetch\(', text)


def _chromium(url, tmp_path, *args):
    """Run headless Chromium on a page; return its stdout and console."""
    profile = tmp_path / 'profile'
    profile.mkdir(exist_ok=True)
    cmd = [
        CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu',
        '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        f'--user-data-dir={profile}', '--use-angle=swiftshader',
        '--enable-unsafe-swiftshader', '--enable-logging=stderr', '--v=0',
        '--window-size=640,480', *args, url
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, check=False)
    console = [
        line for line in proc.stderr.splitlines() if ':CONSOLE' in line and
        # swiftshader's note on the screenshot's read-back
        'GL Driver Message (OpenGL, Performance' not in line
    ]
    return proc.stdout, console


needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f'{CHROMIUM} is not installed')


@needs_chromium
def test_console_errors_are_seen(tmp_path):
    """The browser check can fail: a page that throws is reported."""
    page = tmp_path / 'broken.html'
    page.write_text('<html><body><script>throw new Error("boom");</script>'
                    '</body></html>')
    _, console = _chromium(page.as_uri(), tmp_path, '--dump-dom')
    assert any('boom' in line for line in console)


@needs_chromium
def test_page_draws_in_chromium(tmp_path):
    path = tmp_path / 'scene.html'
    write_html(
        str(path), {'Prediction': _scene()},
        SEMANTICKITTI_CLASSES,
        SEMANTICKITTI_PALETTE,
        voxel_size=0.2,
        origin=(0.0, -25.6, -2.0))
    dom, console = _chromium(path.as_uri(), tmp_path, '--dump-dom')
    assert console == []
    status = re.search(r'<body data-status="([^"]*)"', dom).group(1)
    num_faces = len(face_records(_scene(), SEMANTICKITTI_PALETTE))
    assert status == f'drawn {num_faces} faces of Prediction'
    shot = tmp_path / 'shot.png'
    _, console = _chromium(path.as_uri(), tmp_path, f'--screenshot={shot}')
    assert console == []
    img = np.asarray(Image.open(shot).convert('RGB'))
    assert img.shape == (480, 640, 3)

    def count(colour):
        return int(np.all(img == colour, axis=-1).sum())

    # top faces keep their class colour exactly; the car's top is 4 x 4
    # voxels of the 16 x 16 road
    car, road = count(SEMANTICKITTI_PALETTE[CAR]), count(
        SEMANTICKITTI_PALETTE[ROAD])
    assert car > 1000 and road > 10 * car
    assert count((255, 255, 255)) > 0.3 * img.shape[0] * img.shape[1]
