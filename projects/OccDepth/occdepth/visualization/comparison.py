"""Input image, prediction and ground truth side by side."""
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from projects.OccDepth.occdepth.datasets.label_maps import \
    SEMANTICKITTI_PALETTE
from projects.OccDepth.occdepth.visualization.voxel_render import render_voxels
from projects.OccDepth.occdepth.visualization.voxel_surface import (
    Vec3, as_label_grid)

# Height in pixels of the title strip above each panel.
TITLE_STRIP = 24


def titled(panel: np.ndarray, title: str, strip: int,
           background: Tuple[int, int, int]) -> np.ndarray:
    """Put a title strip of ``strip`` pixels above a panel."""
    height, width = panel.shape[:2]
    out = Image.new('RGB', (width, height + strip), background)
    out.paste(Image.fromarray(panel), (0, strip))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    box = draw.textbbox((0, 0), title, font=font)
    x = max(0, (width - (box[2] - box[0])) // 2)
    y = max(0, (strip - (box[3] - box[1])) // 2 - box[1])
    draw.text((x, y), title, fill=(0, 0, 0), font=font)
    return np.asarray(out)


def fit_image(image: np.ndarray, size: Tuple[int, int],
              background: Tuple[int, int, int]) -> np.ndarray:
    """Scale an ``(H, W, 3)`` image to fit a ``(height, width)`` panel,
    centred on the background."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be (H, W, 3), got {image.shape}')
    height, width = size
    scale = min(width / image.shape[1], height / image.shape[0])
    new_w = max(1, int(round(image.shape[1] * scale)))
    new_h = max(1, int(round(image.shape[0] * scale)))
    small = Image.fromarray(image.astype(np.uint8)).resize(
        (new_w, new_h), Image.Resampling.BILINEAR)
    frame = Image.new('RGB', (width, height), background)
    frame.paste(small, ((width - new_w) // 2, (height - new_h) // 2))
    return np.asarray(frame)


def render_comparison(pred: np.ndarray,
                      gt: np.ndarray,
                      image: Optional[np.ndarray] = None,
                      palette: Sequence[Sequence[int]] = SEMANTICKITTI_PALETTE,
                      voxel_size: Vec3 = 0.2,
                      origin: Vec3 = (0.0, -25.6, -2.0),
                      titles: Sequence[str] = ('Input', 'Prediction',
                                               'Ground truth'),
                      size: Tuple[int, int] = (360, 480),
                      background: Tuple[int, int, int] = (255, 255, 255),
                      **render_kwargs) -> np.ndarray:
    """Input image, prediction and ground truth side by side with titles.

    Both grids use the same fitted view, so voxels line up between panels.
    Defaults are SemanticKITTI's (palette, 0.2 m voxels, grid origin).

    Args:
        pred: ``(X, Y, Z)`` predicted labels.
        gt: ``(X, Y, Z)`` ground-truth labels (``ignore_index`` not drawn).
        image: Optional ``(H, W, 3)`` uint8 input image, scaled to fit a
            panel; without it only the two grids are shown.
        palette: RGB colour per label.
        voxel_size: Edge length(s) in metres.
        origin: Voxel-frame position of the grid's minimum corner.
        titles: Titles of the image, prediction and ground-truth panels.
        size: ``(height, width)`` of each panel without its title.
        background: Background RGB.
        **render_kwargs: Passed to :func:`render_voxels` (``fov_mask``,
            ``camera_frustum``, ``azimuth``, ``elevation``, ...).

    Returns:
        ``(height + title, n_panels * width, 3)`` uint8 RGB image.
    """
    pred, gt = as_label_grid(pred, 'pred'), as_label_grid(gt, 'gt')
    if pred.shape != gt.shape:
        raise ValueError(f'pred shape {pred.shape} differs from gt shape '
                         f'{gt.shape}')
    if len(titles) != 3:
        raise ValueError(f'titles must name 3 panels, got {len(titles)}')
    strip = TITLE_STRIP
    panels = []
    if image is not None:
        frame = fit_image(image, size, background)
        panels.append(titled(frame, titles[0], strip, background))
    for grid, title in ((pred, titles[1]), (gt, titles[2])):
        rendered = render_voxels(
            grid,
            palette,
            voxel_size,
            origin,
            size=size,
            background=background,
            **render_kwargs)
        panels.append(titled(rendered, title, strip, background))
    return np.concatenate(panels, axis=1)
