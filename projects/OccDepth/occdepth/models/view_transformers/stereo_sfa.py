"""Stereo Soft Feature Assignment (Stereo-SFA), paper Sec. 3.2.

Every voxel centre is projected into every view; the 2D feature under the
projected pixel is gathered at several image scales and the views are fused
into one 3D feature volume. With a single view and ``fusion='cosine'`` this is
exactly MonoScene's FLoSP.

Implementation: the projection of a sample depends only on its camera
matrices and the image size, so the pixel of every voxel at every scale is
computed once per camera set-up and cached (:class:`geometry.CameraCache`).
Features are gathered as rows ``(N, C)`` of channels-last tables with one
``index_select`` per view and scale; every per-voxel reduction then runs
over contiguous channels. The stereo cosine fusion, the configuration of the
paper, runs as the fused op :func:`ops.stereo_cosine_fusion`.
"""
import contextlib
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.ops import stereo_cosine_fusion
from projects.OccDepth.occdepth.models.utils import geometry

FUSIONS = ('cosine', 'mean', 'concat')

# |pixel| bound applied before the cast to int64, so that points next to the
# camera plane cannot overflow into a valid pixel index.
_MAX_PIXEL = 1e9
_EPS = 1e-8  # eps of F.cosine_similarity
_HALF = (torch.float16, torch.bfloat16)


@MODELS.register_module()
class StereoSFA(BaseModule):
    """Lift multi-view, multi-scale 2D features onto a voxel grid.

    The fov test is made on the full-resolution image with rounded pixels
    (half to even); a pixel ``p`` of the full image reads pixel ``p // s``
    (floor on int64) of the scale-``s`` map. Out-of-view samples are zero.
    The per-scale volumes are summed (docs/reference-notes.md, Stereo-SFA).

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
        in_channels: Channels ``C`` of the 2D features; ``'concat'`` only
            (its reduction's size), an error with the other fusions.
        num_views: Number of views ``V``; ``'concat'`` only, an error with
            the other fusions (they take any number of views).
        cache_size: Camera set-ups whose pixel tables are kept (int32,
            ``4 * V * N`` bytes per scale each); 0 recomputes every batch.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 grid_size: Sequence[int],
                 voxel_size: Union[float, Sequence[float]],
                 voxel_origin: Sequence[float],
                 scales: Sequence[int] = (1, 2, 4, 8),
                 fusion: str = 'cosine',
                 in_channels: Optional[int] = None,
                 num_views: Optional[int] = None,
                 cache_size: int = 8,
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
        if fusion != 'concat' and (in_channels is not None
                                   or num_views is not None):
            raise ValueError(f'StereoSFA: in_channels and num_views size '
                             f'the concat reduction; fusion={fusion!r} has '
                             f'no weights and takes neither')
        self.num_views = num_views
        self.cache = geometry.CameraCache(cache_size)
        if fusion == 'concat':
            if in_channels is None or num_views is None:
                raise ValueError('StereoSFA: fusion="concat" needs '
                                 'in_channels and num_views')
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

    def _sample_tables(self, lidar2img: Tensor, img_hw: Sequence[int],
                       shapes: Sequence[Tuple[int, int]]) -> Dict:
        """Row indices of one sample's voxels in every scale's table.

        Returns:
            dict with ``index``: one ``(V, N)`` int32 tensor per scale
            (row ``pix_y * w + pix_x + view * h * w`` of the channels-last
            feature table, the zero row ``V * h * w`` out of view),
            ``fov`` ``(V, N)`` bool and ``both`` ``(N, 1)`` bool (seen by
            every view).
        """
        pix, fov = self.project(lidar2img[None], img_hw)
        pix, fov = pix[0], fov[0]
        num_views = fov.shape[0]
        view = torch.arange(num_views, device=fov.device)[:, None]
        index = []
        for scale, (h, w) in zip(self.scales, shapes):
            pix_s = torch.div(pix, scale, rounding_mode='floor')
            rows = pix_s[..., 1] * w + pix_s[..., 0] + view * (h * w)
            rows = torch.where(fov, rows, num_views * h * w)
            index.append(rows.to(torch.int32))
        return dict(index=index, fov=fov, both=fov.all(0)[:, None])

    def _gather_rows(self, feats: List[Tensor],
                     tables: List[Dict]) -> List[Tensor]:
        """Differentiable ``(B, V, N, C)`` samples of every scale."""
        out = []
        for s, feat in enumerate(feats):
            b, v, c = feat.shape[:3]
            rows = []
            for i in range(b):
                table = F.pad(feat[i].permute(0, 2, 3, 1).reshape(-1, c),
                              (0, 0, 0, 1))
                index = tables[i]['index'][s]
                rows.append(
                    table.index_select(0, index.reshape(-1)).view(v, -1, c))
            out.append(torch.stack(rows))
        return out

    def _fuse_rows(self, samples: Tensor, fov: Tensor) -> Tensor:
        """Fuse ``(B, V, N, C)`` samples into ``(B, N, C')`` rows."""
        b, v, n, c = samples.shape
        if self.fusion == 'concat':
            return samples.permute(0, 2, 1, 3).reshape(b, n, v * c)
        if v == 1:
            return samples[:, 0]
        seen = fov.to(samples.dtype)
        if self.fusion == 'mean':
            count = seen.sum(1).clamp_min(1)
            return samples.sum(1) / count.unsqueeze(-1)
        weights = [0] * v
        for i in range(v):
            for j in range(i + 1, v):
                cos = F.cosine_similarity(
                    samples[:, i], samples[:, j], dim=-1, eps=_EPS)
                both = cos * seen[:, i] * seen[:, j]
                weights[i] = weights[i] + both + seen[:, i] * (1 - seen[:, j])
                weights[j] = weights[j] + both + seen[:, j] * (1 - seen[:, i])
        weight = torch.stack(weights, dim=1).unsqueeze(-1)
        return (samples * weight).sum(1) / (v * (v - 1))

    def forward(self,
                feats: List[Tensor],
                lidar2img: Tensor,
                img_hw: Sequence[int],
                host_lidar2img: Optional[Tensor] = None) -> Tensor:
        """Build the 3D feature volume.

        Args:
            feats: One ``(B, V, C, h_s, w_s)`` map per entry of ``scales``,
                with ``h_s >= ceil(H / s)`` and ``w_s >= ceil(W / s)``.
            lidar2img: ``(B, V, 4, 4)`` voxel frame -> augmented pixels.
            img_hw: ``(H, W)`` of the full-resolution image.
            host_lidar2img: The same matrices on the host, from which the
                cache keys are made without a device read-back (OccDepth
                passes them); default: ``lidar2img`` (read back when it is on
                a device).

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
        # Sampling and fusion in fp32: under autocast the backbone hands over
        # fp16 / bf16 maps, whose squared norms underflow in the cosine.
        feats = [f.float() if f.dtype in _HALF else f for f in feats]
        img_hw = tuple(int(n) for n in img_hw)
        shapes = []
        for feat, scale in zip(feats, self.scales):
            h, w = feat.shape[-2:]
            min_h, min_w = (math.ceil(n / scale) for n in img_hw)
            if h < min_h or w < min_w:
                raise ValueError(
                    f'StereoSFA: the scale-{scale} feature map is {h}x{w}, '
                    f'smaller than ceil({img_hw[0]}/{scale}) x '
                    f'ceil({img_hw[1]}/{scale}) for image size {img_hw}')
            shapes.append((h, w))
        shapes = tuple(shapes)
        # While tracing (ONNX / torch.export) the tables must stay functions
        # of the lidar2img input: no cache keyed on its values, and no
        # custom autograd function.
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
        if tracing:
            tables = [
                self._sample_tables(lidar2img[i], img_hw, shapes)
                for i in range(b)
            ]
        else:
            host = lidar2img if host_lidar2img is None else host_lidar2img
            device = str(lidar2img.device)
            tables = [
                self.cache.get(
                    self.cache.key(host[i], img_hw, shapes, self.scales,
                                   device),
                    lambda i=i: self._sample_tables(lidar2img[i], img_hw,
                                                    shapes)) for i in range(b)
            ]
        # autocast off: its matmul-like ops (the cosine's dot product) would
        # otherwise run in fp16 / bf16 on the fp32 maps
        device_type = feats[0].device.type
        with (torch.autocast(device_type=device_type, enabled=False)
              if torch.amp.is_autocast_available(device_type) else
              contextlib.nullcontext()):
            if self.fusion == 'cosine' and v == 2 and not tracing:
                rows = stereo_cosine_fusion([t['index'] for t in tables],
                                            [t['both'] for t in tables], feats)
            else:
                fov = torch.stack([t['fov'] for t in tables])
                rows = None
                for samples in self._gather_rows(feats, tables):
                    fused = self._fuse_rows(samples, fov)
                    rows = fused if rows is None else rows + fused
        volume = rows.transpose(1, 2).reshape(b, -1, *self.grid_size)
        if self.fusion == 'concat':
            volume = self.reduce(volume)
        return volume.contiguous()
