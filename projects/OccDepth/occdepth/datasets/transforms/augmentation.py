"""2D augmentations of the stereo SSC pipeline.

Randomness comes from numpy's global RNG, like mmcv's transforms. In
training, ``SeededSampler`` and the datasets' ``SeededDatasetMixin``
(``datasets/seeding.py``) seed it for every sample from ``(seed, epoch,
index)``, so the draws do not depend on the data-loader workers and a
resumed run repeats them exactly.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet3d.registry import TRANSFORMS
from PIL import Image, ImageEnhance

from projects.OccDepth.occdepth.models.utils.geometry import \
    horizontal_flip_matrix


def _jitter_range(value: float, name: str) -> Optional[Tuple[float, float]]:
    """Factor range ``[max(0, 1 - v), 1 + v]`` of a colour-jitter strength."""
    if value < 0:
        raise ValueError(f'{name} must be >= 0, got {value}')
    if value == 0:
        return None
    return max(0.0, 1.0 - value), 1.0 + value


def _adjust_hue(img: Image.Image, shift: float) -> Image.Image:
    """Rotate the hue by ``shift`` turns (in ``[-0.5, 0.5]``)."""
    h, s, v = img.convert('HSV').split()
    h_arr = np.asarray(h, dtype=np.uint8)
    h_arr = (h_arr.astype(np.int16) + int(round(shift * 255))) % 256
    h = Image.fromarray(h_arr.astype(np.uint8), 'L')
    return Image.merge('HSV', (h, s, v)).convert('RGB')


def _gaussian_blur(img: np.ndarray, kernel_size: int,
                   sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an HWC uint8 image, reflect padding."""
    half = (kernel_size - 1) / 2
    x = np.linspace(-half, half, kernel_size)
    kernel = np.exp(-0.5 * (x / sigma)**2)
    kernel /= kernel.sum()
    pad = kernel_size // 2
    out = img.astype(np.float32)
    for axis in (0, 1):
        if out.shape[axis] <= pad:
            raise ValueError(f'image of size {img.shape[:2]} is too small '
                             f'for a blur kernel of {kernel_size}')
        widths = [(0, 0)] * 3
        widths[axis] = (pad, pad)
        padded = np.pad(out, widths, mode='reflect')
        n = out.shape[axis]
        out = sum(k * padded.take(np.arange(i, i + n), axis=axis)
                  for i, k in enumerate(kernel))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@TRANSFORMS.register_module()
class StereoPhotoMetricDistortion(BaseTransform):
    """Photometric augmentation of OccDepth, drawn independently per view.

    Per view: colour jitter (brightness, contrast, saturation, hue, in a
    random order, with torchvision ``ColorJitter`` semantics on PIL images),
    then a Gaussian blur with probability ``blur_prob``, then grayscale with
    probability ``grayscale_prob``. The defaults are the released KITTI
    configs: ``ColorJitter(0.4, 0.4, 0.4)`` and no blur or grayscale.

    Required Keys:

    - imgs (list[np.ndarray]): HWC uint8 RGB images.

    Modified Keys:

    - imgs

    Args:
        brightness: Brightness factor drawn from ``[1 - b, 1 + b]``.
        contrast: Contrast factor drawn from ``[1 - c, 1 + c]``.
        saturation: Saturation factor drawn from ``[1 - s, 1 + s]``.
        hue: Hue shift drawn from ``[-hue, hue]`` turns, ``hue <= 0.5``.
        blur_prob: Probability of the Gaussian blur.
        blur_kernel_size: Odd kernel size of the blur.
        blur_sigma: Range of the blur's standard deviation in pixels.
        grayscale_prob: Probability of converting a view to grayscale.
    """

    def __init__(self,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.4,
                 hue: float = 0.0,
                 blur_prob: float = 0.0,
                 blur_kernel_size: int = 3,
                 blur_sigma: Sequence[float] = (0.1, 2.0),
                 grayscale_prob: float = 0.0) -> None:
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self._ranges = dict(
            brightness=_jitter_range(brightness, 'brightness'),
            contrast=_jitter_range(contrast, 'contrast'),
            saturation=_jitter_range(saturation, 'saturation'))
        if not 0 <= hue <= 0.5:
            raise ValueError(f'hue must be in [0, 0.5], got {hue}')
        self.hue = hue
        for name, prob in (('blur_prob', blur_prob), ('grayscale_prob',
                                                      grayscale_prob)):
            if not 0 <= prob <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {prob}')
        if blur_kernel_size < 1 or blur_kernel_size % 2 == 0:
            raise ValueError(f'blur_kernel_size must be a positive odd '
                             f'number, got {blur_kernel_size}')
        if len(blur_sigma) != 2 or not 0 < blur_sigma[0] <= blur_sigma[1]:
            raise ValueError(f'blur_sigma must be (min, max) with '
                             f'0 < min <= max, got {blur_sigma}')
        self.blur_prob = blur_prob
        self.blur_kernel_size = blur_kernel_size
        self.blur_sigma = tuple(blur_sigma)
        self.grayscale_prob = grayscale_prob

    @cache_randomness
    def _draw_params(self) -> dict:
        """Random parameters of one view."""

        def factor(name):
            rng = self._ranges[name]
            return None if rng is None else np.random.uniform(*rng)

        return dict(
            order=np.random.permutation(4),
            brightness=factor('brightness'),
            contrast=factor('contrast'),
            saturation=factor('saturation'),
            hue=np.random.uniform(-self.hue, self.hue) if self.hue else None,
            blur_sigma=(np.random.uniform(*self.blur_sigma)
                        if np.random.rand() < self.blur_prob else None),
            grayscale=bool(np.random.rand() < self.grayscale_prob))

    def _distort(self, img: np.ndarray, params: dict) -> np.ndarray:
        pil = Image.fromarray(img, 'RGB')
        enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast,
                     ImageEnhance.Color)
        keys = ('brightness', 'contrast', 'saturation', 'hue')
        for idx in params['order']:
            value = params[keys[idx]]
            if value is None:
                continue
            if idx < 3:
                pil = enhancers[idx](pil).enhance(value)
            else:
                pil = _adjust_hue(pil, value)
        out = np.asarray(pil, dtype=np.uint8)
        if params['blur_sigma'] is not None:
            out = _gaussian_blur(out, self.blur_kernel_size,
                                 params['blur_sigma'])
        if params['grayscale']:
            gray = Image.fromarray(out, 'RGB').convert('L')
            out = np.asarray(gray.convert('RGB'), dtype=np.uint8)
        return np.ascontiguousarray(out)

    def transform(self, results: dict) -> dict:
        """Distort every view with its own random parameters."""
        imgs: List[np.ndarray] = results['imgs']
        results['imgs'] = [
            self._distort(img, self._draw_params()) for img in imgs
        ]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'hue={self.hue}, blur_prob={self.blur_prob}, '
                f'blur_kernel_size={self.blur_kernel_size}, '
                f'blur_sigma={self.blur_sigma}, '
                f'grayscale_prob={self.grayscale_prob})')


@TRANSFORMS.register_module()
class RandomStereoFlip(BaseTransform):
    """Horizontal flip of every view, one draw per sample.

    The 3D target is never flipped: the flip is recorded in ``ida_mat``
    (``u' = W - 1 - u``), which the model applies after projecting voxels,
    so geometry lands on the flipped pixels exactly.

    Required Keys:

    - imgs (list[np.ndarray])
    - gt_depth (np.ndarray, optional): ``(H, W)`` or one map per view
      ``(V, H, W)``; each map is flipped in place with its image.
    - ida_mat (np.ndarray, optional): ``(3, 3)`` affine map of homogeneous
      pixels ``(u, v, 1)`` of an earlier 2D augmentation, composed with the
      flip.

    Modified Keys:

    - imgs
    - gt_depth

    Added Keys:

    - flip (bool)
    - ida_mat (np.ndarray): float64 ``(3, 3)``, the identity when the sample
      is not flipped.

    Args:
        prob: Probability of flipping.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    @cache_randomness
    def _draw_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        """Flip all views (and the depth map) or none of them."""
        ida_mat = np.asarray(
            results.get('ida_mat', np.eye(3)), dtype=np.float64)
        if ida_mat.shape != (3, 3):
            raise ValueError(f'ida_mat must be a 3x3 pixel transform, got '
                             f'shape {ida_mat.shape}')
        flip = self._draw_flip()
        if flip:
            width = results['imgs'][0].shape[1]
            results['imgs'] = [
                np.ascontiguousarray(img[:, ::-1]) for img in results['imgs']
            ]
            if 'gt_depth' in results:
                results['gt_depth'] = np.ascontiguousarray(
                    results['gt_depth'][..., ::-1])
            ida_mat = horizontal_flip_matrix(width) @ ida_mat
        results['flip'] = flip
        results['ida_mat'] = ida_mat
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
