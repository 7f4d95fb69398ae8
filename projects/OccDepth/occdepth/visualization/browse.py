"""Look at what a dataset config feeds the model: ``tools/browse_dataset.py``.

For each frame, after the config's pipeline (the training pipeline with its
flip and colour jitter for ``--split train``), the browser writes

* ``{name}_left.png`` / ``{name}_right.png`` (``{name}_view{i}.png`` for
  other view counts): the network's input image with the ground-truth
  voxels projected onto it (``geometry.build_lidar2img`` with the sample's
  ``cam2img``, ``lidar2cam`` and ``ida_mat``, the model's own projection),
  half blended in their class colours, the nearest voxel on top;
* ``{name}_depth.png`` (``{name}_depth_left.png`` ... for one map per
  view): the depth map when the pipeline loads one (near red, far blue, no
  measurement black);
* ``{name}_grid.png``: the ground-truth grid, voxels outside the left
  camera's view dimmed, the camera frustum drawn with the image on it.

Calibration, flip, crop and labels line up when the coloured voxels sit on
the objects of the image.
"""
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet3d.registry import DATASETS
from mmengine.config import Config
from PIL import Image

from projects.OccDepth.occdepth.datasets.label_maps import IGNORE_INDEX
from projects.OccDepth.occdepth.datasets.seeding import SeededIndex
from projects.OccDepth.occdepth.models.utils import geometry
from projects.OccDepth.occdepth.visualization.grid_files import (
    GridStyle, style_for_dataset_type)
from projects.OccDepth.occdepth.visualization.voxel_render import render_voxels
from projects.OccDepth.occdepth.visualization.voxel_surface import \
    palette_array

SPLITS = ('train', 'val', 'test')
# Weight of the voxel colour over the image pixel.
OVERLAY_ALPHA = 0.5
# Largest drawn half-size of a projected voxel in pixels.
MAX_SPLAT_RADIUS = 6
# Depth of the drawn camera frustum in voxels of the grid's longest side.
FRUSTUM_FRACTION = 0.4


def overlay_voxels(image: np.ndarray, labels: np.ndarray,
                   lidar2img: torch.Tensor, voxel_size: float,
                   origin: Sequence[float],
                   palette: Sequence[Sequence[int]]) -> np.ndarray:
    """Blend the projected labelled voxels onto an image.

    Each drawn voxel (label not 0 nor 255) covers the square of its
    projected size around its projected centre (half-size
    ``f * voxel_size / (2 * depth)``, at most :data:`MAX_SPLAT_RADIUS`);
    per pixel the nearest voxel wins.

    Args:
        image: ``(H, W, 3)`` uint8 image (as fed to the network).
        labels: ``(X, Y, Z)`` training ids.
        lidar2img: ``(4, 4)`` voxel frame -> pixels of ``image``.
        voxel_size: Edge length in metres.
        origin: Voxel-frame position of the grid's minimum corner.
        palette: RGB colour per label.

    Returns:
        ``(H, W, 3)`` uint8 image.
    """
    height, width = image.shape[:2]
    pal = palette_array(palette)
    flat = labels.reshape(-1)
    drawn = np.nonzero((flat != 0) & (flat != IGNORE_INDEX))[0]
    out = image.astype(np.float64)
    if len(drawn) == 0:
        return image.copy()
    if int(flat[drawn].max()) >= len(pal):
        raise ValueError(f'labels hold {int(flat[drawn].max())} but the '
                         f'palette has {len(pal)} colours')
    centres = geometry.voxel_centers(labels.shape, voxel_size, origin)[drawn]
    uv, depth = geometry.project_points(centres, lidar2img[None, None])
    uv, depth = uv[0, 0].numpy(), depth[0, 0].numpy()
    focal = float(np.linalg.norm(lidar2img[0, :3].numpy()))
    front = depth > 0
    uv, depth, voxel = uv[front], depth[front], drawn[front]
    radius = np.minimum(focal * voxel_size / (2 * depth), MAX_SPLAT_RADIUS)
    centre = np.rint(uv).astype(np.int64)
    zbuf = np.full(height * width, np.inf)
    hits: List[Tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for dv in range(-MAX_SPLAT_RADIUS, MAX_SPLAT_RADIUS + 1):
        for du in range(-MAX_SPLAT_RADIUS, MAX_SPLAT_RADIUS + 1):
            reach = max(abs(du), abs(dv))
            use = radius >= reach - 0.5 if reach else np.ones_like(
                radius, bool)
            u, v = centre[use, 0] + du, centre[use, 1] + dv
            inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
            pix = v[inside] * width + u[inside]
            d = depth[use][inside]
            np.minimum.at(zbuf, pix, d)
            hits.append((pix, d, voxel[use][inside]))
    colour = np.full((height * width, 3), np.nan)
    for pix, d, vox in hits:
        near = d == zbuf[pix]
        colour[pix[near]] = pal[flat[vox[near]]]
    covered = ~np.isnan(colour[:, 0])
    blended = out.reshape(-1, 3)
    blended[covered] = ((1 - OVERLAY_ALPHA) * blended[covered] +
                        OVERLAY_ALPHA * colour[covered])
    return np.clip(np.rint(blended), 0,
                   255).astype(np.uint8).reshape(height, width, 3)


def colour_depth(depth: np.ndarray) -> np.ndarray:
    """Depth map -> RGB: near red, far blue (linear in depth up to the
    largest value), 0 (no measurement) black."""
    depth = np.asarray(depth, dtype=np.float64)
    valid = depth > 0
    top = depth[valid].max() if valid.any() else 1.0
    t = np.clip(depth / top, 0.0, 1.0)
    rgb = np.stack([1 - t, 1 - np.abs(2 * t - 1), t], axis=-1) * 255
    rgb[~valid] = 0
    return np.rint(rgb).astype(np.uint8)


def unaugment(image: np.ndarray, ida_mat: np.ndarray) -> np.ndarray:
    """Undo the 2D augmentation ``ida_mat`` (pixel ``p`` of the original
    image is at ``ida_mat @ p`` in ``image``; integer pixel centres)."""
    ida = np.asarray(ida_mat, dtype=np.float64)
    if np.allclose(ida, np.eye(3)):
        return image
    lin, shift = ida[:2, :2], ida[:2, 2]
    # PIL puts pixel centres at +0.5
    offset = shift + 0.5 - lin @ np.array([0.5, 0.5])
    coeffs = (lin[0, 0], lin[0, 1], offset[0], lin[1, 0], lin[1, 1], offset[1])
    height, width = image.shape[:2]
    return np.asarray(
        Image.fromarray(image).transform((width, height),
                                         Image.Transform.AFFINE, coeffs,
                                         Image.Resampling.NEAREST))


def upright_view(grid: np.ndarray, style: GridStyle, voxel_size: float,
                 origin: Sequence[float], fov: np.ndarray,
                 frustum: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Grid, fov mask and frustum turned so that ``style``'s up is up
    (two axes reversed when ``up_sign`` is -1, as
    :func:`~.grid_views.upright`)."""
    if style.up_sign > 0:
        return grid, fov, frustum
    axes = (style.up_axis, (style.up_axis + 2) % 3)
    lo = np.asarray(origin, dtype=np.float64)
    hi = lo + np.asarray(grid.shape) * voxel_size
    frustum = frustum.copy()
    for axis in axes:
        frustum[:, axis] = lo[axis] + hi[axis] - frustum[:, axis]
    return (np.ascontiguousarray(np.flip(grid, axes)),
            np.ascontiguousarray(np.flip(fov, axes)), frustum)


def browse_sample(sample: dict, style: GridStyle) -> Dict[str, np.ndarray]:
    """The pictures of one pipeline output (``inputs`` + ``data_samples``).

    Returns:
        Picture name suffix (``left``, ``right``, ``depth``, ``grid``) ->
        ``(H, W, 3)`` uint8 image.
    """
    data = sample['data_samples']
    meta = data.metainfo
    imgs = sample['inputs']['imgs'].permute(0, 2, 3, 1).numpy()
    num_views = len(imgs)
    names = ('left',
             'right') if num_views == 2 else tuple(f'view{i}'
                                                   for i in range(num_views))
    gt = data.gt_occ.numpy() if 'gt_occ' in data else None
    voxel_size = float(meta['voxel_size'])
    origin = tuple(float(v) for v in meta['voxel_origin'])
    cam2img = torch.as_tensor(np.asarray(meta['cam2img']), dtype=torch.float64)
    lidar2cam = torch.as_tensor(
        np.asarray(meta['lidar2cam']), dtype=torch.float64)
    ida = torch.as_tensor(np.asarray(meta['ida_mat']), dtype=torch.float64)
    if ida.dim() == 2:
        ida = ida.expand(num_views, 3, 3)
    pictures = {}
    for view, name in enumerate(names):
        image = imgs[view].astype(np.uint8)
        if gt is not None:
            lidar2img = geometry.build_lidar2img(cam2img[view],
                                                 lidar2cam[view], ida[view])
            image = overlay_voxels(image, gt, lidar2img, voxel_size, origin,
                                   style.palette)
        pictures[name] = image
    if 'gt_depth' in data:
        depth = data.gt_depth.numpy()
        if depth.ndim == 2:
            pictures['depth'] = colour_depth(depth)
        else:  # one map per view
            for name, one in zip(names, depth):
                pictures[f'depth_{name}'] = colour_depth(one)
    if gt is not None:
        img_hw = imgs.shape[1:3]
        lidar2img = geometry.build_lidar2img(cam2img[0], lidar2cam[0], ida[0])
        centres = geometry.voxel_centers(gt.shape, voxel_size, origin)
        uv, depth = geometry.project_points(centres, lidar2img[None, None])
        fov = geometry.in_image(geometry.round_pixels(uv), depth,
                                img_hw)[0, 0].numpy().reshape(gt.shape)
        distance = FRUSTUM_FRACTION * max(gt.shape) * voxel_size
        # the frustum of the un-augmented camera, with the image taken back
        # through ida_mat so that it faces the scene the right way round
        frustum = geometry.camera_frustum(cam2img[0].numpy(),
                                          lidar2cam[0].numpy(), img_hw,
                                          distance)
        image = unaugment(imgs[0].astype(np.uint8), ida[0].numpy())
        grid, fov, frustum = upright_view(gt, style, voxel_size, origin, fov,
                                          frustum)
        pictures['grid'] = render_voxels(
            grid,
            style.palette,
            voxel_size,
            origin,
            fov_mask=fov,
            camera_frustum=frustum,
            image=image,
            up_axis=style.up_axis)
    return pictures


def dataset_config(cfg: Config, split: str) -> Config:
    """The dataset config of ``split`` (its ``{split}_dataloader``)."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'{cfg.filename}: no {split}_dataloader.dataset')
    return loader['dataset']


def browse_dataset(cfg: Config,
                   out_dir: str,
                   split: str = 'train',
                   frames: int = 4,
                   seed: int = 0,
                   log: Optional[Callable[[str], None]] = None) -> List[str]:
    """Write the pictures of the first ``frames`` frames of a split.

    Args:
        cfg: A loaded config (default scope set, plugin imported).
        out_dir: Output folder (created if needed).
        split: ``train``, ``val`` or ``test``.
        frames: Number of frames (the first ones of the dataset).
        seed: Seed of the random augmentations; frame ``i`` is loaded under
            ``seed + i`` so a run can be repeated exactly.
        log: Called with one line per written frame.

    Returns:
        The written files.
    """
    if frames < 1:
        raise ValueError(f'frames must be positive, got {frames}')
    ds_cfg = dataset_config(cfg, split)
    style = style_for_dataset_type(ds_cfg.get('type'), cfg.filename)
    dataset = DATASETS.build(ds_cfg)
    if len(dataset) == 0:
        raise ValueError(f'{cfg.filename}: the {split} dataset has no frames')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for index in range(min(frames, len(dataset))):
        sample = dataset[SeededIndex(index, seed + index)]
        meta = sample['data_samples'].metainfo
        name = f"{index:04d}_{meta.get('sequence', split)}_" \
               f"{meta.get('frame_id', index)}"
        pictures = browse_sample(sample, style)
        for suffix, picture in pictures.items():
            path = os.path.join(out_dir, f'{name}_{suffix}.png')
            Image.fromarray(picture).save(path)
            written.append(path)
        if log is not None:
            note = '' if 'grid' in pictures else ' (no ground truth)'
            log(f'{name}: {", ".join(pictures)}{note}, '
                f"flip={bool(meta.get('flip', False))}")
    return written
