"""Loading transforms of the stereo SSC pipeline: images, labels, depth."""
import logging
import os
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmengine.logging import print_log
from PIL import Image

from projects.OccDepth.occdepth.datasets.io import read_depth_png
from projects.OccDepth.occdepth.datasets.voxel_labels import (
    downsample_labels, read_kitti_labels)

# Top-left crop (H, W) of the OccDepth / MonoScene KITTI images.
KITTI_CROP = (370, 1220)


def _read_rgb(path: str) -> np.ndarray:
    """Read an image file as an HWC uint8 RGB array."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert('RGB'))
    except (OSError, ValueError) as exc:
        raise ValueError(f'{path}: cannot read image: {exc}') from exc


def _check_crop_size(
        crop_size: Optional[Sequence[int]]) -> Optional[Tuple[int, int]]:
    if crop_size is None:
        return None
    size = tuple(int(s) for s in crop_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'crop_size must be (H, W) with positive values, '
                         f'got {crop_size}')
    return size


def _check_crop(path: str, shape: Tuple[int, int], crop_size: Tuple[int, int],
                what: str) -> None:
    if shape[0] < crop_size[0] or shape[1] < crop_size[1]:
        raise ValueError(f'{path}: {what} of size (H, W) = {tuple(shape)} is '
                         f'smaller than the crop size {tuple(crop_size)}')


@TRANSFORMS.register_module()
class LoadStereoImages(BaseTransform):
    """Load every view of a sample and crop them to a common size.

    The crop keeps the top-left ``crop_size`` window (the OccDepth KITTI
    crop ``[0:370, 0:1220]``), so intrinsics are unchanged.

    Required Keys:

    - img_paths (list[str]): One path per view, view 0 = left.

    Added Keys:

    - imgs (list[np.ndarray]): HWC uint8 RGB images.
    - img_shape (tuple[int, int]): ``(H, W)`` after cropping.
    - ori_shape (tuple[int, int]): ``(H, W)`` of the files.
    - num_views (int)

    Args:
        crop_size: ``(H, W)`` of the top-left crop, or None to keep the
            full images.
    """

    def __init__(self, crop_size: Optional[Sequence[int]] = KITTI_CROP):
        self.crop_size = _check_crop_size(crop_size)

    def transform(self, results: dict) -> dict:
        """Read, check and crop the images of every view."""
        paths = results['img_paths']
        if not paths:
            raise ValueError('img_paths is empty: a sample needs at least '
                             'one view')
        imgs = [_read_rgb(p) for p in paths]
        ori_shape = imgs[0].shape[:2]
        for path, img in zip(paths[1:], imgs[1:]):
            if img.shape[:2] != ori_shape:
                raise ValueError(
                    f'{path}: image size (H, W) = {img.shape[:2]} differs '
                    f'from {ori_shape} of {paths[0]}; every view must have '
                    f'the same size')
        if self.crop_size is not None:
            h, w = self.crop_size
            _check_crop(paths[0], ori_shape, self.crop_size, 'image')
            imgs = [np.ascontiguousarray(img[:h, :w]) for img in imgs]
        results['imgs'] = imgs
        results['img_shape'] = tuple(imgs[0].shape[:2])
        results['ori_shape'] = tuple(ori_shape)
        results['num_views'] = len(imgs)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class LoadSSCLabels(BaseTransform):
    """Load the semantic voxel target and its downsampled versions.

    Reads the create_data cache (``{label_cache_prefix}_1_{f}.npy``) when
    the dataset gives a prefix, otherwise the raw ``.label`` / ``.invalid``
    files, remapped to training ids (invalid voxels -> 255). Samples without
    a label (test split) pass through unchanged.

    Required Keys:

    - label_path (str | None)
    - invalid_path (str | None)
    - label_cache_prefix (str | None, optional)
    - grid_size (tuple[int, int, int])

    Added Keys:

    - gt_occ (np.ndarray): uint8 ``grid_size`` labels.
    - gt_occ_1_{f} (np.ndarray): uint8 labels pooled by ``f`` for every
      ``f`` in ``downsample_factors``.
    - gt_occ_crp (np.ndarray): the labels at the context-prior (CRP)
      resolution, ``gt_occ_1_{crp_factor}``, when ``crp_factor`` is set.

    Args:
        downsample_factors: Downsampling factors of the extra targets.
        crp_factor: The factor among ``downsample_factors`` whose labels
            feed the CRP relation loss (8 for the KITTI network), or None.
    """

    def __init__(self,
                 downsample_factors: Sequence[int] = (8, ),
                 crp_factor: Optional[int] = 8) -> None:
        factors = tuple(int(f) for f in downsample_factors)
        if any(f < 2 for f in factors):
            raise ValueError(f'downsample factors must be >= 2, got '
                             f'{tuple(downsample_factors)}')
        if crp_factor is not None and crp_factor not in factors:
            raise ValueError(f'crp_factor {crp_factor} must be one of the '
                             f'downsample_factors {factors}')
        self.downsample_factors = factors
        self.crp_factor = crp_factor

    @staticmethod
    def _load_cached(path: str, shape: Sequence[int]) -> np.ndarray:
        labels = np.load(path)
        if labels.dtype != np.uint8 or labels.shape != tuple(shape):
            raise ValueError(f'{path}: cached labels are {labels.dtype} '
                             f'{labels.shape}, expected uint8 '
                             f'{tuple(shape)}; rebuild the cache with '
                             f'tools/create_data.py')
        return labels

    def transform(self, results: dict) -> dict:
        """Attach ``gt_occ`` and the pooled targets to ``results``."""
        label_path = results.get('label_path')
        if label_path is None:
            return results
        grid_size = tuple(results['grid_size'])
        prefix = results.get('label_cache_prefix')
        if prefix is not None:
            path = f'{prefix}_1_1.npy'
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f'label cache file not found: {path}; run '
                    f'tools/create_data.py kitti for this sequence or drop '
                    f'label_cache_root')
            labels = self._load_cached(path, grid_size)
        else:
            labels, num_unknown = read_kitti_labels(
                label_path, results.get('invalid_path'), grid_size)
            if num_unknown:
                print_log(
                    f'{label_path}: {num_unknown} voxels hold raw ids '
                    f'absent from the SemanticKITTI learning map; they '
                    f'are ignored (255)',
                    logger='current',
                    level=logging.WARNING)
        results['gt_occ'] = labels
        for f in self.downsample_factors:
            path = f'{prefix}_1_{f}.npy' if prefix is not None else None
            if path is not None and os.path.isfile(path):
                results[f'gt_occ_1_{f}'] = self._load_cached(
                    path, [n // f for n in grid_size])
            else:
                results[f'gt_occ_1_{f}'] = downsample_labels(labels, f)
        if self.crp_factor is not None:
            results['gt_occ_crp'] = results[f'gt_occ_1_{self.crp_factor}']
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'downsample_factors={self.downsample_factors}, '
                f'crp_factor={self.crp_factor})')


@TRANSFORMS.register_module()
class LoadStereoDepth(BaseTransform):
    """Load the left view's stereo depth map, cropped like the images.

    Required Keys:

    - depth_path (str)
    - img_shape (tuple[int, int], optional): when present (after
      :class:`LoadStereoImages`), the cropped depth map must have this size.

    Added Keys:

    - gt_depth (np.ndarray): float32 ``(H, W)`` metres, 0 = unknown.

    Args:
        crop_size: ``(H, W)`` of the top-left crop, or None to keep the full
            map; use the crop of :class:`LoadStereoImages`.
    """

    def __init__(self, crop_size: Optional[Sequence[int]] = KITTI_CROP):
        self.crop_size = _check_crop_size(crop_size)

    def transform(self, results: dict) -> dict:
        """Read and crop the depth PNG of view 0."""
        path = results.get('depth_path')
        if path is None:
            raise ValueError(
                f'sample {results.get("sequence")}/{results.get("frame_id")}'
                f' has no depth_path: set depth_root on the dataset to use '
                f'LoadStereoDepth')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'depth file not found: {path}')
        depth = read_depth_png(path)
        if self.crop_size is not None:
            h, w = self.crop_size
            _check_crop(path, depth.shape, self.crop_size, 'depth map')
            depth = depth[:h, :w]
        img_shape = results.get('img_shape')
        if img_shape is not None and depth.shape != tuple(img_shape):
            raise ValueError(f'{path}: depth map of size (H, W) = '
                             f'{depth.shape} (after cropping) differs from '
                             f'the image size {tuple(img_shape)}')
        results['gt_depth'] = np.ascontiguousarray(depth)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'
