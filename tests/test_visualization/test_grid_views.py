"""PNG views of grids: layout, class colours, up axis, gap-free faces."""
import numpy as np

from projects.OccDepth.occdepth.datasets.label_maps import (
    SEMANTICKITTI_PALETTE, TARTANAIR_PALETTE)
from projects.OccDepth.occdepth.visualization import render_voxels
from projects.OccDepth.occdepth.visualization.comparison import TITLE_STRIP
from projects.OccDepth.occdepth.visualization.grid_files import style_from_name
from projects.OccDepth.occdepth.visualization.grid_views import (
    render_grid_views, upright)

WHITE = (255, 255, 255)
CAR, ROAD = 1, 9


def _count(img, colour):
    return int(np.all(img == np.asarray(colour, np.uint8), axis=-1).sum())


def test_views_side_by_side_show_class_colours():
    style = style_from_name('semantickitti', grid_size=(16, 16, 4))
    pred = np.zeros((16, 16, 4), np.uint8)
    pred[:, :, 0] = ROAD
    gt = pred.copy()
    pred[5:9, 5:9, 1] = CAR
    image = np.zeros((20, 40, 3), np.uint8)
    image[:] = (10, 200, 30)
    picture = render_grid_views([('Prediction', pred), ('Ground truth', gt)],
                                style,
                                image=image,
                                views=((-150, 40), (180, 90)),
                                size=(60, 80))
    # 2 rows (views) x 3 columns (image, prediction, ground truth)
    assert picture.shape == (2 * (60 + TITLE_STRIP), 3 * 80, 3)
    first, second = picture[TITLE_STRIP:60 + TITLE_STRIP], picture[-60:]
    assert _count(first[:, :80], (10, 200, 30)) > 0
    # the car's top faces in its exact colour in the prediction only
    assert _count(first[:, 80:160], SEMANTICKITTI_PALETTE[CAR]) > 4
    assert _count(first[:, 160:], SEMANTICKITTI_PALETTE[CAR]) == 0
    assert _count(second[:, 160:], SEMANTICKITTI_PALETTE[ROAD]) > 1000


def test_upright_turns_a_y_down_grid():
    style = style_from_name('tartanair', grid_size=(3, 4, 5))
    grid = np.zeros((3, 4, 5), np.uint8)
    grid[0, 0, 0] = 1  # the ceiling corner: y is down in TartanAir
    turned, up_axis = upright(grid, style)
    assert up_axis == 1
    # reversed along y (now up) and x: a rotation about z, not a mirror
    assert turned.shape == (3, 4, 5) and turned[2, 3, 0] == 1
    assert np.count_nonzero(turned) == 1
    # top-down view: the ceiling voxel's top face is drawn, unshaded
    img = render_voxels(
        turned, TARTANAIR_PALETTE, size=(40, 40), elevation=90, up_axis=1)
    assert _count(img, TARTANAIR_PALETTE[1]) > 0


def test_faces_tile_without_gaps():
    """Faces meeting at a pixel centre leave no background pixel."""
    grid = np.ones((16, 16, 1), np.uint8)
    # scale 24 / 16 = 1.5 px per voxel: face edges fall on pixel centres
    img = render_voxels(
        grid,
        SEMANTICKITTI_PALETTE,
        size=(40, 40),
        azimuth=180,
        elevation=90,
        margin=8)
    inside = img[9:31, 9:31]
    assert _count(inside, WHITE) == 0
