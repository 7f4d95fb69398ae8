"""Stereo Soft Feature Assignment (Stereo-SFA), paper Sec. 3.2.

Every voxel centre is projected into every view; the 2D feature under the
projected pixel is gathered at several image scales and the views are fused
into one 3D feature volume. With a single view and ``fusion='cosine'`` this is
exactly MonoScene's FLoSP.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.utils import geometry

FUSIONS = ('cosine', 'mean', 'concat')

# |pixel| bound applied before the cast to int64, so that points next to the
# camera plane cannot overflow into a valid pixel index.
_MAX_PIXEL = 1e9


@MODELS.register_module()
class StereoSFA(BaseModule):
    """Lift multi-view, multi-scale 2D features onto a voxel grid.

    The fov test is made on the full-resolution image with rounded pixels
    (half to even); a pixel ``p`` of the full image reads pixel ``p // s``
    (floor on int64) of the scale-``s`` map. Out-of-view samples are zero.
    The per-scale volumes are summed (reference Sec. 3.2).

    Fusion of the ``V`` per-view samples ``f_v`` with in-view flags ``a_v``:

    * ``'cosine'`` (Stereo-SFA): for each unordered pair ``(i, j)``, view ``i``
      gets weight ``cos(f_i, f_j)`` if both views see the voxel and ``1`` if
      only ``i`` sees it; the weighted sum is divided by ``V * (V - 1)``. For
      stereo this gives ``cos * (f_L + f_R) / 2`` where both views see the
      voxel and ``f_L / 2`` (or ``f_R / 2``) where one does. ``V = 1`` passes
      the single view through (FLoSP).
    * ``'mean'``: average of the in-view samples (paper Table 4a "Mean").
    * ``'concat'``: the ``V`` samples are concatenated along channels and a
      1x1x1 convolution reduces ``V * C`` to ``C`` channels (paper Table 4a
      "Concat"). The convolution is linear, so it is applied once to the sum
      over scales.

    Args:
        grid_size: ``(X, Y, Z)`` of the projected voxel grid.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid in the voxel frame.
        scales: Downsampling factor of each input feature map, in the order
            of the list given to :meth:`forward`.
        fusion: One of ``'cosine'``, ``'mean'``, ``'concat'``.
        in_channels: Channels ``C`` of the 2D features; needed by
            ``'concat'`` only.
        num_views: Number of views; needed by ``'concat'`` only.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 grid_size: Sequence[int],
                 voxel_size: Union[float, Sequence[float]],
                 voxel_origin: Sequence[float],
                 scales: Sequence[int] = (1, 2, 4, 8),
                 fusion: str = 'cosine',
                 in_channels: Optional[int] = None,
                 num_views: int = 2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if fusion not in FUSIONS:
            raise ValueError(f'StereoSFA: fusion must be one of {FUSIONS}, '
                             f'got {fusion!r}')
        if len(grid_size) != 3:
            raise ValueError(f'StereoSFA: grid_size must have 3 entries, '
                             f'got {grid_size}')
        if not scales or any(int(s) < 1 for s in scales):
            raise ValueError(f'StereoSFA: scales must be positive integers, '
                             f'got {scales}')
        self.grid_size = tuple(int(n) for n in grid_size)
        self.scales = tuple(int(s) for s in scales)
        self.fusion = fusion
        self.num_views = num_views
        if fusion == 'concat':
            if in_channels is None:
                raise ValueError('StereoSFA: fusion="concat" needs '
                                 'in_channels')
            self.reduce = nn.Conv3d(num_views * in_channels, in_channels, 1)
        # float32 centres as in the reference; projected in float64.
        self.register_buffer(
            'voxel_centers',
            geometry.voxel_centers(self.grid_size, voxel_size, voxel_origin),
            persistent=False)

    def project(self, lidar2img: Tensor,
                img_hw: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """Full-resolution integer pixel and fov flag of every voxel.

        Args:
            lidar2img: ``(B, V, 4, 4)`` voxel frame -> augmented pixels.
            img_hw: ``(H, W)`` of the full-resolution image.

        Returns:
            tuple: ``pix`` ``(B, V, N, 2)`` long and ``fov`` ``(B, V, N)``
            bool, ``N = X * Y * Z`` in C order.
        """
        uv, depth = geometry.project_points(self.voxel_centers, lidar2img)
        pix = geometry.round_pixels(uv.clamp(-_MAX_PIXEL, _MAX_PIXEL))
        fov = geometry.in_image(pix, depth, img_hw)
        return pix, fov

    def _gather(self, feat: Tensor, pix: Tensor, fov: Tensor, scale: int,
                img_hw: Sequence[int]) -> Tensor:
        """Features ``(B, V, C, N)`` under the pixels; zero outside fov."""
        b, v, c, h, w = feat.shape
        min_h, min_w = (math.ceil(n / scale) for n in img_hw)
        if h < min_h or w < min_w:
            raise ValueError(
                f'StereoSFA: the scale-{scale} feature map is {h}x{w}, '
                f'smaller than ceil({img_hw[0]}/{scale}) x '
                f'ceil({img_hw[1]}/{scale}) for image size {tuple(img_hw)}')
        pix_s = torch.div(pix, scale, rounding_mode='floor')
        index = pix_s[..., 1] * w + pix_s[..., 0]
        # Column h*w of the padded map is zero: out-of-view samples read it.
        index = torch.where(fov, index, torch.full_like(index, h * w))
        flat = F.pad(feat.reshape(b, v, c, h * w), (0, 1))
        index = index.unsqueeze(2).expand(-1, -1, c, -1)
        return torch.gather(flat, 3, index)

    def _fuse(self, samples: Tensor, fov: Tensor) -> Tensor:
        """Fuse ``(B, V, C, N)`` samples into ``(B, C', N)``."""
        b, v, c, n = samples.shape
        seen = fov.to(samples.dtype)
        if self.fusion == 'concat':
            return samples.reshape(b, v * c, n)
        if v == 1:
            return samples[:, 0]
        if self.fusion == 'mean':
            count = seen.sum(1).clamp_min(1)
            return samples.sum(1) / count.unsqueeze(1)
        weights = [0] * v
        for i in range(v):
            for j in range(i + 1, v):
                cos = F.cosine_similarity(
                    samples[:, i], samples[:, j], dim=1, eps=1e-8)
                both = cos * seen[:, i] * seen[:, j]
                weights[i] = weights[i] + both + seen[:, i] * (1 - seen[:, j])
                weights[j] = weights[j] + both + seen[:, j] * (1 - seen[:, i])
        weight = torch.stack(weights, dim=1).unsqueeze(2)
        return (samples * weight).sum(1) / (v * (v - 1))

    def forward(self, feats: List[Tensor], lidar2img: Tensor,
                img_hw: Sequence[int]) -> Tensor:
        """Build the 3D feature volume.

        Args:
            feats: One ``(B, V, C, h_s, w_s)`` map per entry of ``scales``,
                with ``h_s >= ceil(H / s)`` and ``w_s >= ceil(W / s)``.
            lidar2img: ``(B, V, 4, 4)`` voxel frame -> augmented pixels.
            img_hw: ``(H, W)`` of the full-resolution image.

        Returns:
            Tensor ``(B, C, X, Y, Z)``.
        """
        if len(feats) != len(self.scales):
            raise ValueError(f'StereoSFA: got {len(feats)} feature maps for '
                             f'scales {self.scales}')
        b, v = feats[0].shape[:2]
        if tuple(lidar2img.shape) != (b, v, 4, 4):
            raise ValueError(f'StereoSFA: lidar2img must be ({b}, {v}, 4, 4) '
                             f'for features of shape {tuple(feats[0].shape)}'
                             f', got {tuple(lidar2img.shape)}')
        if self.fusion == 'concat' and v != self.num_views:
            raise ValueError(f'StereoSFA: fusion="concat" was built for '
                             f'{self.num_views} views, got {v}')
        pix, fov = self.project(lidar2img, img_hw)
        volume = None
        for feat, scale in zip(feats, self.scales):
            fused = self._fuse(
                self._gather(feat, pix, fov, scale, img_hw), fov)
            volume = fused if volume is None else volume + fused
        volume = volume.reshape(b, -1, *self.grid_size)
        if self.fusion == 'concat':
            volume = self.reduce(volume)
        return volume
