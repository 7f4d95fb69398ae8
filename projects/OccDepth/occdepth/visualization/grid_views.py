"""PNG, PLY and HTML of grid files: the logic of ``tools/visualize.py``."""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from projects.OccDepth.occdepth.datasets.io import read_rgb_image
from projects.OccDepth.occdepth.visualization.comparison import (TITLE_STRIP,
                                                                 fit_image,
                                                                 titled)
from projects.OccDepth.occdepth.visualization.grid_files import (GridStyle,
                                                                 read_grid)
from projects.OccDepth.occdepth.visualization.html_viewer import write_html
from projects.OccDepth.occdepth.visualization.ply import save_ply
from projects.OccDepth.occdepth.visualization.voxel_render import render_voxels

OUTPUT_EXTENSIONS = ('.png', '.ply', '.html')
# The renderer's default view: from behind-right, 40 degrees above.
DEFAULT_VIEW = (-150.0, 40.0)
WHITE = (255, 255, 255)


def upright(grid: np.ndarray, style: GridStyle) -> Tuple[np.ndarray, int]:
    """The grid turned so that its up axis points up, and that axis.

    A grid whose up axis points down (``up_sign`` -1) is turned 180 degrees
    about the next axis (two axes reversed: a rotation, not a mirror).
    """
    if style.up_sign < 0:
        other = (style.up_axis + 2) % 3
        grid = np.flip(grid, axis=(style.up_axis, other))
    return np.ascontiguousarray(grid), style.up_axis


def render_grid_views(
    grids: Sequence[Tuple[str, np.ndarray]],
    style: GridStyle,
    image: Optional[np.ndarray] = None,
    views: Sequence[Tuple[float, float]] = (DEFAULT_VIEW, ),
    size: Tuple[int, int] = (360, 480)
) -> np.ndarray:
    """Grids side by side (and the input image first), one row per view.

    Args:
        grids: ``(title, (X, Y, Z) labels)`` per column, e.g. prediction
            and ground truth.
        style: Palette, voxel size and up axis.
        image: Optional ``(H, W, 3)`` uint8 input image (first column).
        views: ``(azimuth, elevation)`` in degrees per row.
        size: ``(height, width)`` of each panel without its title.

    Returns:
        uint8 RGB picture.
    """
    if not grids or not views:
        raise ValueError('render_grid_views: give at least one grid and one '
                         'view')
    rows = []
    for azimuth, elevation in views:
        suffix = '' if len(views) == 1 else \
            f' (azimuth {azimuth:g}, elevation {elevation:g})'
        panels = []
        if image is not None:
            panels.append(
                titled(
                    fit_image(image, size, WHITE), 'Input', TITLE_STRIP,
                    WHITE))
        for title, grid in grids:
            turned, up_axis = upright(grid, style)
            rendered = render_voxels(
                turned,
                style.palette,
                style.voxel_size,
                size=size,
                azimuth=azimuth,
                elevation=elevation,
                up_axis=up_axis)
            panels.append(titled(rendered, title + suffix, TITLE_STRIP, WHITE))
        rows.append(np.concatenate(panels, axis=1))
    return np.concatenate(rows, axis=0)


def visualize_files(
    grid_path: str,
    outputs: Sequence[str],
    style: GridStyle,
    gt_path: Optional[str] = None,
    invalid_path: Optional[str] = None,
    gt_invalid_path: Optional[str] = None,
    image_path: Optional[str] = None,
    views: Sequence[Tuple[float, float]] = (DEFAULT_VIEW, ),
    size: Tuple[int, int] = (360, 480)
) -> Dict[str, str]:
    """Write a PNG, PLY or HTML file of a grid file (and its ground truth).

    Args:
        grid_path: The grid (prediction or any labels), see
            :func:`~.grid_files.read_grid`.
        outputs: Files to write; the extension picks the format: ``.png``
            (renders, with the ground truth and image when given), ``.ply``
            (the surface of ``grid_path``'s grid) or ``.html`` (the
            interactive page, with a switch to the ground truth).
        style: Dataset style and grid geometry.
        gt_path: Optional ground-truth grid drawn beside the grid.
        invalid_path, gt_invalid_path: Optional ``.invalid`` files of the
            two ``.label`` grids.
        image_path: Optional input image for the PNG.
        views: ``(azimuth, elevation)`` per PNG row.
        size: ``(height, width)`` of each PNG panel.

    Returns:
        Output path -> a one-line summary of what it holds.
    """
    for out in outputs:
        ext = os.path.splitext(out)[1].lower()
        if ext not in OUTPUT_EXTENSIONS:
            raise ValueError(f'{out}: unknown output format {ext!r}; expected '
                             f'one of {OUTPUT_EXTENSIONS}')
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f'{out}: folder {folder} does not exist')
    grids: List[Tuple[str, np.ndarray]] = []
    name = 'Prediction' if gt_path else os.path.basename(grid_path)
    grids.append((name, read_grid(grid_path, style, invalid_path)))
    if gt_path:
        grids.append(('Ground truth', read_grid(gt_path, style,
                                                gt_invalid_path)))
    elif gt_invalid_path:
        raise ValueError(f'{gt_invalid_path}: --gt-invalid needs --gt')
    image = None if image_path is None else read_rgb_image(image_path)
    done = {}
    for out in outputs:
        ext = os.path.splitext(out)[1].lower()
        if ext == '.png':
            picture = render_grid_views(grids, style, image, views, size)
            Image.fromarray(picture).save(out)
            done[out] = (f'{picture.shape[1]}x{picture.shape[0]} render of '
                         f'{len(grids)} grid(s), {len(views)} view(s)')
        elif ext == '.ply':
            num_v, num_f = save_ply(out, grids[0][1], style.palette,
                                    style.voxel_size, style.origin)
            done[out] = f'{num_f} faces, {num_v} vertices of {grids[0][0]}'
        else:
            faces = write_html(
                out,
                dict(grids),
                style.classes,
                style.palette,
                voxel_size=style.voxel_size,
                origin=style.origin,
                up_axis=style.up_axis,
                up_sign=style.up_sign,
                title=os.path.basename(grid_path))
            done[out] = (f'interactive page of {len(grids)} grid(s), '
                         f'{faces} faces')
    return done
