"""Loading transforms of the stereo SSC pipeline: images, labels, depth."""
import logging
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmengine.logging import print_log

from projects.OccDepth.occdepth.datasets.io import (read_depth_png,
                                                    read_rgb_image,
                                                    read_voxel_bits)
from projects.OccDepth.occdepth.datasets.voxel_labels import (
    EmptyLabelReporter, downsample_labels, empty_kitti_reason,
    read_kitti_labels)

# Top-left crop (H, W) of the OccDepth / MonoScene KITTI images.
KITTI_CROP = (370, 1220)


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


def check_depth_size(path: str, shape: Tuple[int, int], results: dict,
                     loader: str) -> None:
    """Refuse a depth map (never cropped) unlike the sample's images.

    Args:
        path: The depth file, named in the error.
        shape: ``(H, W)`` of the depth map as read.
        results: The sample; ``ori_shape`` (image files) and ``img_shape``
            (images as loaded) are compared when present.
        loader: Name of the calling transform, for the message.
    """
    shape = tuple(shape)
    ori_shape = results.get('ori_shape')
    if ori_shape is not None and shape != tuple(ori_shape):
        raise ValueError(f'{path}: depth map of size (H, W) = {shape} '
                         f'differs from the image size {tuple(ori_shape)}')
    img_shape = results.get('img_shape')
    if img_shape is not None and shape != tuple(img_shape):
        raise ValueError(f'{path}: depth map of size (H, W) = {shape} '
                         f'differs from the image size {tuple(img_shape)} '
                         f'after cropping; {loader} does not crop, load the '
                         f'images with crop_size=None')


@TRANSFORMS.register_module()
class LoadStereoImages(BaseTransform):
    """Load every view of a sample and crop them to a common size.

    The crop keeps the top-left ``crop_size`` window (the OccDepth KITTI
    crop ``[0:370, 0:1220]``), so intrinsics are unchanged.

    Required Keys:

    - img_paths (list[str]): One path per view, view 0 = left.

    Added Keys:

    - imgs (list[np.ndarray]): HWC uint8 RGB images; files of another mode
      (16-bit, grayscale, RGBA, palette) are refused.
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
        imgs = [read_rgb_image(p) for p in paths]
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
    """Load the semantic voxel target and its context-prior version.

    Reads the create_data cache (``{label_cache_prefix}_1_{f}.npy``) when
    the dataset gives a prefix, otherwise the raw ``.label`` / ``.invalid``
    files, remapped to training ids (invalid voxels -> 255). Samples without
    a label (test split) pass through unchanged. A frame whose voxels are
    all ignored (255) is reported by :class:`EmptyLabelReporter` (file,
    reason and running count) and still loaded.

    Required Keys:

    - label_path (str | None)
    - invalid_path (str | None)
    - label_cache_prefix (str | None, optional)
    - grid_size (tuple[int, int, int])

    Added Keys:

    - gt_occ (np.ndarray): uint8 ``grid_size`` labels.
    - gt_occ_crp (np.ndarray): uint8 labels pooled by ``crp_factor``, the
      context-prior (CRP) resolution (``{label_cache_prefix}_1_{f}.npy``
      when cached), when ``crp_factor`` is set.

    Args:
        crp_factor: Downsampling factor of the labels that feed the CRP
            relation loss (8 for the KITTI network), or None for no CRP
            target.
    """

    def __init__(self, crp_factor: Optional[int] = 8) -> None:
        if crp_factor is not None and int(crp_factor) < 2:
            raise ValueError(f'crp_factor must be >= 2 or None, got '
                             f'{crp_factor}')
        self.crp_factor = None if crp_factor is None else int(crp_factor)
        self.empty_reporter = EmptyLabelReporter()

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
        """Attach ``gt_occ`` and ``gt_occ_crp`` to ``results``."""
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
            self.empty_reporter.check(labels, path,
                                      lambda: 'the label file holds only 255')
        else:
            invalid_path = results.get('invalid_path')
            labels, num_unknown = read_kitti_labels(label_path, invalid_path,
                                                    grid_size)
            if num_unknown:
                print_log(
                    f'{label_path}: {num_unknown} voxels hold raw ids '
                    f'absent from the SemanticKITTI learning map; they '
                    f'are ignored (255)',
                    logger='current',
                    level=logging.WARNING)

            def reason() -> str:
                num_invalid = 0 if invalid_path is None else int(
                    read_voxel_bits(invalid_path, grid_size).sum())
                return empty_kitti_reason(labels.size, num_invalid,
                                          num_unknown)

            self.empty_reporter.check(labels, label_path, reason)
        results['gt_occ'] = labels
        f = self.crp_factor
        if f is not None:
            path = f'{prefix}_1_{f}.npy' if prefix is not None else None
            if path is not None and os.path.isfile(path):
                results['gt_occ_crp'] = self._load_cached(
                    path, [n // f for n in grid_size])
            else:
                results['gt_occ_crp'] = downsample_labels(labels, f)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crp_factor={self.crp_factor})'


@TRANSFORMS.register_module()
class LoadStereoDepth(BaseTransform):
    """Load the depth map of view 0, or of every view, cropped like the images.

    Stereo depth maps exist for the left view only (``num_views=1``); LiDAR
    depth maps (``tools/create_data.py kitti-lidar-depth``) exist for both
    cameras, and the authors supervise every view with them
    (``use_lidar_depth_gt`` in ``occdepth/data/semantic_kitti/
    kitti_dataset.py``), so ``num_views=2`` loads one map per view.

    Required Keys:

    - depth_path (str): view 0's map, read when ``num_views`` is 1.
    - depth_paths (list[str]): one map per view, read when ``num_views`` is
      larger.
    - ori_shape (tuple[int, int], optional): when present (after
      :class:`LoadStereoImages`), every depth map must have this size before
      cropping.
    - img_shape (tuple[int, int], optional): when present, the cropped
      depth maps must have this size.

    Added Keys:

    - gt_depth (np.ndarray): float32 metres, 0 = unknown: ``(H, W)`` for
      ``num_views=1``, else ``(num_views, H, W)`` (view ``v`` in row ``v``).

    Args:
        crop_size: ``(H, W)`` of the top-left crop, or None to keep the full
            map; use the crop of :class:`LoadStereoImages`.
        num_views: Number of views whose depth maps are loaded (views
            ``0 .. num_views - 1``).
    """

    def __init__(self,
                 crop_size: Optional[Sequence[int]] = KITTI_CROP,
                 num_views: int = 1):
        self.crop_size = _check_crop_size(crop_size)
        if int(num_views) < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        self.num_views = int(num_views)

    def _paths(self, results: dict) -> List[str]:
        key = 'depth_path' if self.num_views == 1 else 'depth_paths'
        paths = results.get(key)
        if paths is None:
            raise ValueError(
                f'sample {results.get("sequence")}/{results.get("frame_id")}'
                f' has no {key}: set depth_root on the dataset to use '
                f'LoadStereoDepth')
        if self.num_views == 1:
            return [paths]
        if len(paths) < self.num_views:
            raise ValueError(
                f'sample {results.get("sequence")}/{results.get("frame_id")}'
                f' has depth maps for {len(paths)} view(s) ({paths}), '
                f'LoadStereoDepth(num_views={self.num_views}) needs '
                f'{self.num_views}')
        return list(paths[:self.num_views])

    def _read(self, path: str, results: dict) -> np.ndarray:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'depth file not found: {path}')
        depth = read_depth_png(path)
        # Compare with the image file's size before cropping: a larger map
        # would otherwise be cropped to fit and silently misaligned.
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and depth.shape != tuple(ori_shape):
            raise ValueError(f'{path}: depth map of size (H, W) = '
                             f'{depth.shape} differs from the image size '
                             f'{tuple(ori_shape)} (both before cropping)')
        if self.crop_size is not None:
            h, w = self.crop_size
            _check_crop(path, depth.shape, self.crop_size, 'depth map')
            depth = depth[:h, :w]
        img_shape = results.get('img_shape')
        if img_shape is not None and depth.shape != tuple(img_shape):
            raise ValueError(f'{path}: depth map of size (H, W) = '
                             f'{depth.shape} (after cropping) differs from '
                             f'the image size {tuple(img_shape)}')
        return depth

    def transform(self, results: dict) -> dict:
        """Read and crop the depth PNG of each loaded view."""
        maps = [self._read(p, results) for p in self._paths(results)]
        depth = maps[0] if self.num_views == 1 else np.stack(maps)
        results['gt_depth'] = np.ascontiguousarray(depth)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'num_views={self.num_views})')
