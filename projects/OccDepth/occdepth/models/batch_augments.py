"""Image augmentations on normalised view batches (the released strong aug).

The authors' ``use_strong_img_aug`` (``KittiDataset.__getitem__`` in their
``occdepth/data/semantic_kitti/kitti_dataset.py``) runs on every view after
the ImageNet normalisation: with probability 0.3 a 3 x 3 Gaussian blur with
``sigma ~ U(0.1, 2)``, then with probability 0.3 the pair
``RandomGrayscale(p=0.1)``, ``RandomErasing(p=0.5, scale=(0.01, 0.02),
ratio=(0.3, 3), value=0)`` of torchvision. On normalised values the
grayscale mixes ``(x - mean) / std`` of the channels and the fill value 0 is
the mean colour, so neither equals the same operation on 0-255 pixels: the
modules here work on normalised tensors and run as ``batch_augments`` of
:class:`~projects.OccDepth.occdepth.models.data_preprocessor.SSCDataPreprocessor`,
right after it normalises a training batch (the data pipeline ends with
uint8 pixels).

Every view draws its own parameters, as the authors' per-view calls.
Random numbers come from torch's global CPU generator of the main process,
which ``ResumableRandomnessHook`` (``engine/randomness.py``) seeds before
every training iteration, so a resumed run draws what an uninterrupted one
draws. Each call draws a fixed number of values whatever the outcome, and
all views are processed at once (no per-view Python loop, no host sync).

Each module takes ``imgs`` ``(N, 3, H, W)`` and an optional bool
``active`` ``(N,)`` (views that may be augmented, default all) and returns
the augmented tensor.
"""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn

# ITU-R 601-2 luma weights of torchvision's rgb_to_grayscale
GRAYSCALE_WEIGHTS = (0.2989, 0.587, 0.114)
# sigma range of the authors' GaussianBlur(kernel_size=3, sigma=(0.1, 2.0))
BLUR_SIGMA = (0.1, 2.0)


def _check_prob(prob: float, name: str) -> float:
    if not 0 <= prob <= 1:
        raise ValueError(f'{name}: prob must be in [0, 1], got {prob}')
    return float(prob)


def _check_range(values: Sequence[float], name: str, what: str) -> tuple:
    if len(values) != 2 or not 0 < values[0] <= values[1]:
        raise ValueError(f'{name}: {what} must be (min, max) with '
                         f'0 < min <= max, got {tuple(values)}')
    return float(values[0]), float(values[1])


def _draw_mask(n: int, prob: float, active: Optional[Tensor]) -> Tensor:
    """CPU bool ``(n,)``: ``U(0, 1) < prob`` and ``active``."""
    mask = torch.rand(n) < prob
    if active is not None:
        mask &= active.cpu()
    return mask


def _check_imgs(imgs: Tensor, name: str) -> None:
    if imgs.dim() != 4 or imgs.shape[1] != 3:
        raise ValueError(f'{name}: expected views of shape (N, 3, H, W), got '
                         f'{tuple(imgs.shape)}')


@MODELS.register_module()
class BatchGaussianBlur(nn.Module):
    """Gaussian blur of each view with probability ``prob``.

    A view is blurred with a ``kernel_size`` x ``kernel_size`` kernel
    ``g(x) g(y)``, ``g(x) ~ exp(-x^2 / (2 sigma^2))`` normalised to sum 1,
    ``sigma ~ U(*sigma)`` per view, and reflect padding (torchvision
    ``GaussianBlur``).

    Args:
        prob: Probability of blurring a view.
        kernel_size: Odd kernel size.
        sigma: ``(min, max)`` of the standard deviation in pixels.
    """

    def __init__(self,
                 prob: float = 0.3,
                 kernel_size: int = 3,
                 sigma: Sequence[float] = BLUR_SIGMA) -> None:
        super().__init__()
        self.prob = _check_prob(prob, 'BatchGaussianBlur')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'BatchGaussianBlur: kernel_size must be a '
                             f'positive odd number, got {kernel_size}')
        self.kernel_size = int(kernel_size)
        self.sigma = _check_range(sigma, 'BatchGaussianBlur', 'sigma')

    def draw(self, n: int, active: Optional[Tensor] = None) -> dict:
        """CPU draws of ``n`` views: ``apply`` (n,) and ``sigma`` (n,)."""
        apply = _draw_mask(n, self.prob, active)
        sigma = torch.empty(n, dtype=torch.float64).uniform_(*self.sigma)
        return dict(apply=apply, sigma=sigma)

    def kernels(self, sigma: Tensor) -> Tensor:
        """``(n, k)`` float64 normalised 1D kernels of the ``sigma`` s."""
        half = (self.kernel_size - 1) / 2
        x = torch.linspace(-half, half, self.kernel_size, dtype=torch.float64)
        pdf = torch.exp(-0.5 * (x[None] / sigma[:, None])**2)
        return pdf / pdf.sum(dim=1, keepdim=True)

    def forward(self, imgs: Tensor, active: Optional[Tensor] = None) -> Tensor:
        _check_imgs(imgs, 'BatchGaussianBlur')
        n, c, h, w = imgs.shape
        params = self.draw(n, active)
        pad = self.kernel_size // 2
        if min(h, w) <= pad:
            raise ValueError(f'BatchGaussianBlur: views of size {h}x{w} are '
                             f'too small for a {self.kernel_size}x'
                             f'{self.kernel_size} kernel')
        if not params['apply'].any():  # a CPU draw: no device sync
            return imgs
        k1d = self.kernels(params['sigma'])
        k2d = k1d[:, :, None] * k1d[:, None, :]
        weight = k2d.repeat_interleave(c, dim=0)[:, None]
        weight = weight.to(device=imgs.device, dtype=imgs.dtype)
        padded = F.pad(imgs.reshape(1, n * c, h, w), [pad] * 4, mode='reflect')
        blurred = F.conv2d(padded, weight, groups=n * c).view(n, c, h, w)
        apply = params['apply'].to(imgs.device)[:, None, None, None]
        return torch.where(apply, blurred, imgs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, kernel_size='
                f'{self.kernel_size}, sigma={self.sigma})')


@MODELS.register_module()
class BatchGrayscale(nn.Module):
    """Grayscale of each view with probability ``prob``.

    Every channel of a converted view becomes ``0.2989 r + 0.587 g +
    0.114 b`` of its channels (torchvision ``RandomGrayscale`` with three
    output channels).

    Args:
        prob: Probability of converting a view.
    """

    def __init__(self, prob: float = 0.1) -> None:
        super().__init__()
        self.prob = _check_prob(prob, 'BatchGrayscale')

    def draw(self, n: int, active: Optional[Tensor] = None) -> dict:
        """CPU draws of ``n`` views: ``apply`` (n,)."""
        return dict(apply=_draw_mask(n, self.prob, active))

    def forward(self, imgs: Tensor, active: Optional[Tensor] = None) -> Tensor:
        _check_imgs(imgs, 'BatchGrayscale')
        apply = self.draw(imgs.shape[0], active)['apply']
        if not apply.any():  # a CPU draw: no device sync
            return imgs
        apply = apply.to(imgs.device)
        r, g, b = imgs.unbind(dim=1)
        wr, wg, wb = GRAYSCALE_WEIGHTS
        gray = (wr * r + wg * g + wb * b).unsqueeze(1).expand_as(imgs)
        return torch.where(apply[:, None, None, None], gray, imgs)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@MODELS.register_module()
class BatchErasing(nn.Module):
    """Random erasing of a rectangle of each view with probability ``prob``.

    torchvision ``RandomErasing`` semantics: up to ``attempts`` candidate
    rectangles per view, each with area ``U(*scale) * H * W`` and aspect
    ratio ``h / w = exp(U(log ratio_min, log ratio_max))``, ``h =
    round(sqrt(area * ratio))``, ``w = round(sqrt(area / ratio))``
    (half to even); the first with ``h < H`` and ``w < W`` is placed at a
    uniform integer top-left corner and filled with ``value``. A view whose
    candidates all fail is left unchanged.

    Args:
        prob: Probability of erasing a view.
        scale: ``(min, max)`` erased fraction of the view's area.
        ratio: ``(min, max)`` aspect ratio ``h / w`` of the rectangle.
        value: Fill value (on normalised tensors 0 is the mean colour).
        attempts: Candidate rectangles per view.
    """

    def __init__(self,
                 prob: float = 0.5,
                 scale: Sequence[float] = (0.01, 0.02),
                 ratio: Sequence[float] = (0.3, 3.0),
                 value: float = 0.0,
                 attempts: int = 10) -> None:
        super().__init__()
        self.prob = _check_prob(prob, 'BatchErasing')
        self.scale = _check_range(scale, 'BatchErasing', 'scale')
        if self.scale[1] > 1:
            raise ValueError(f'BatchErasing: scale must lie in (0, 1], got '
                             f'{tuple(scale)}')
        self.ratio = _check_range(ratio, 'BatchErasing', 'ratio')
        self.value = float(value)
        if attempts < 1:
            raise ValueError(f'BatchErasing: attempts must be >= 1, got '
                             f'{attempts}')
        self.attempts = int(attempts)

    def draw(self,
             n: int,
             img_hw: Sequence[int],
             active: Optional[Tensor] = None) -> dict:
        """CPU draws of ``n`` views of size ``img_hw``.

        Returns:
            dict of ``(n,)`` tensors: ``apply`` (bool; erasing drawn and a
            candidate fits), ``top``, ``left``, ``height``, ``width``
            (int64; the rectangle, 0 where ``apply`` is False).
        """
        img_h, img_w = (int(s) for s in img_hw)
        apply = _draw_mask(n, self.prob, active)
        shape = (n, self.attempts)
        area = torch.empty(
            shape, dtype=torch.float64).uniform_(*self.scale) * img_h * img_w
        log_ratio = torch.empty(
            shape, dtype=torch.float64).uniform_(
                math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = torch.exp(log_ratio)
        height = torch.round(torch.sqrt(area * aspect)).long()
        width = torch.round(torch.sqrt(area / aspect)).long()
        fits = (height < img_h) & (width < img_w)
        first = fits.long().argmax(dim=1, keepdim=True)
        height = height.gather(1, first)[:, 0]
        width = width.gather(1, first)[:, 0]
        apply &= fits.any(dim=1)
        corner = torch.rand(n, 2, dtype=torch.float64)
        top = torch.floor(corner[:, 0] * (img_h - height + 1)).long()
        left = torch.floor(corner[:, 1] * (img_w - width + 1)).long()
        zero = torch.zeros_like(height)
        return dict(
            apply=apply,
            top=torch.where(apply, top, zero),
            left=torch.where(apply, left, zero),
            height=torch.where(apply, height, zero),
            width=torch.where(apply, width, zero))

    def forward(self, imgs: Tensor, active: Optional[Tensor] = None) -> Tensor:
        _check_imgs(imgs, 'BatchErasing')
        n, _, h, w = imgs.shape
        params = self.draw(n, (h, w), active)
        if not params['apply'].any():  # a CPU draw: no device sync
            return imgs
        params = {key: value.to(imgs.device) for key, value in params.items()}
        rows = torch.arange(h, device=imgs.device)[None]
        cols = torch.arange(w, device=imgs.device)[None]
        in_rows = (rows >= params['top'][:, None]) & (
            rows < (params['top'] + params['height'])[:, None])
        in_cols = (cols >= params['left'][:, None]) & (
            cols < (params['left'] + params['width'])[:, None])
        erase = in_rows[:, :, None] & in_cols[:, None, :]
        return imgs.masked_fill(erase[:, None], self.value)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, scale='
                f'{self.scale}, ratio={self.ratio}, value={self.value}, '
                f'attempts={self.attempts})')


@MODELS.register_module()
class BatchRandomApply(nn.Module):
    """Apply ``transforms`` in order to each view with probability ``prob``.

    The views that draw ``U(0, 1) < prob`` form the ``active`` set handed
    to every transform, which then draws its own probability on top (as
    torchvision ``Compose`` inside ``if np.random.rand() < prob``).

    Args:
        transforms: Configs of the batch augmentations to apply.
        prob: Probability of applying them to a view.
    """

    def __init__(self, transforms: List[dict], prob: float = 0.3) -> None:
        super().__init__()
        self.prob = _check_prob(prob, 'BatchRandomApply')
        if not transforms:
            raise ValueError('BatchRandomApply: transforms must not be '
                             'empty')
        self.transforms = nn.ModuleList(
            MODELS.build(cfg) for cfg in transforms)

    def forward(self, imgs: Tensor, active: Optional[Tensor] = None) -> Tensor:
        _check_imgs(imgs, 'BatchRandomApply')
        chosen = _draw_mask(imgs.shape[0], self.prob, active)
        for transform in self.transforms:
            imgs = transform(imgs, chosen)
        return imgs
