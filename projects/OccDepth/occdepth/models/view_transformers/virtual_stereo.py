"""Virtual stereo for RGB-D input (NYUv2): a right view from one view + depth.

A virtual right camera sits ``baseline`` metres along the real camera's +x
axis with the same intrinsics, so a point at depth ``z`` seen at column
``u_L`` appears at ``u_R = u_L - d`` with disparity ``d = fx * b / z``
(pixels of the original image). The dataset gives the model this camera as
view 1 (:func:`~projects.OccDepth.occdepth.datasets.nyuv2.nyu_calibration`),
so Stereo-SFA projects voxels into the synthesised view exactly where this
module puts their content.

Two levels:

* ``level='image'`` (the paper: "virtual stereo images generated from the
  RGB image and the depth map"): the input image is **forward-warped** to
  the virtual camera before the backbone. Every pixel with a depth is
  splatted to the two columns around its position ``u - d``
  (``floor(u - d)`` and the next one, so that surfaces stretched by up to 2x
  in the virtual view leave no cracks); where several land on one pixel the
  nearest (largest disparity) wins (a z-buffer, ``scatter_reduce`` with
  ``amax``). Each hit pixel then reads the input bilinearly at
  ``u_R + d`` with its winning disparity, which is sub-pixel exact for a
  surface of constant depth. Pixels that receive nothing are
  disocclusions (and the strip beyond the left image's field of view):
  each copies the nearest hit pixel of its row on the **background side**,
  i.e. of the two nearest hit pixels to its left and right the one with the
  smaller disparity (farther away; the left one on a tie); at the image
  border the only one. A row without any hit is copied unshifted.
  :meth:`VirtualStereo.warp` also returns the mask of directly warped
  pixels. Pixels without depth (0) are not splatted.
* ``level='feature'`` (the released code, docs/reference-notes.md, Virtual
  stereo; **the setting behind the released NYU numbers**): every feature scale
  ``s`` is **backward-warped**, ``f_R(u) = f_L(u + d / s)``, bilinear with
  border padding, the depth bilinearly resized to the feature size and depth 0
  giving disparity 0 as in the reference. Like the reference it reads the left
  depth at the right pixel (one-pass backward warping), but it fixes the
  reference's quirks: each sample uses its own focal length (not batch element
  0's), the sampling grid uses exact pixel centres (``align_corners=False``
  convention, no half-pixel shift), and horizontally flipped samples warp the
  other way.

Flips and other 2D augmentations are read from ``ida_mat`` (``(u, v, 1)`` ->
augmented pixels): in augmented pixels the right view is displaced by
``-ida[0, 0] * d``, e.g. ``+d`` after a horizontal flip.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

LEVELS = ('image', 'feature')


@MODELS.register_module()
class VirtualStereo(BaseModule):
    """Synthesise the virtual right view of an RGB-D sample.

    Args:
        level: ``'image'`` (forward-warp the image, the paper) or
            ``'feature'`` (backward-warp every feature scale, the released
            code).
        baseline: Distance in metres from the real to the virtual camera
            along the camera's +x axis; must match the dataset's
            ``virtual_baseline``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 level: str = 'image',
                 baseline: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if level not in LEVELS:
            raise ValueError(f'VirtualStereo: level must be one of {LEVELS}, '
                             f'got {level!r}')
        if baseline <= 0:
            raise ValueError(f'VirtualStereo: baseline must be positive, got '
                             f'{baseline}')
        self.level = level
        self.baseline = float(baseline)

    def forward(self,
                x: Tensor,
                depth: Tensor,
                cam2img: Tensor,
                ida_mat: Optional[Tensor] = None,
                stride: int = 1) -> Tensor:
        """Append the virtual right view.

        Args:
            x: ``(B, 1, C, h, w)`` image (``level='image'``) or feature map
                of the real view.
            depth: ``(B, H, W)`` depth in metres of the real view, in the
                augmented image's pixels, 0 = unknown.
            cam2img: ``(B, 3|4, 3|4)`` intrinsics of the real camera.
            ida_mat: ``(B, 3, 3)`` 2D augmentation of the images, or None.
            stride: Downsampling factor of ``x`` w.r.t. the image.

        Returns:
            ``(B, 2, C, h, w)``: view 0 = ``x``, view 1 = the virtual view.
        """
        virtual, _ = self.warp(x, depth, cam2img, ida_mat, stride)
        return torch.cat([x, virtual], dim=1)

    def warp(self,
             x: Tensor,
             depth: Tensor,
             cam2img: Tensor,
             ida_mat: Optional[Tensor] = None,
             stride: int = 1) -> Tuple[Tensor, Tensor]:
        """The virtual view and the mask of its directly warped pixels.

        Arguments as :meth:`forward`.

        Returns:
            tuple: ``(B, 1, C, h, w)`` virtual view and ``(B, 1, h, w)``
            bool mask: True where the pixel comes from a warped input pixel
            with a depth, False for filled disocclusions, the strip outside
            the real view and pixels without depth.
        """
        if x.dim() != 5 or x.shape[1] != 1:
            raise ValueError(f'VirtualStereo: expected x of shape (B, 1, C, '
                             f'h, w) (one real view), got {tuple(x.shape)}')
        b, _, _, h, w = x.shape
        if depth.dim() != 3 or depth.shape[0] != b:
            raise ValueError(f'VirtualStereo: expected depth of shape (B, H, '
                             f'W) with B = {b}, got {tuple(depth.shape)}')
        if stride < 1:
            raise ValueError(f'VirtualStereo: stride must be >= 1, got '
                             f'{stride}')
        gain = self._pixel_gain(cam2img, ida_mat, b, x.device)
        depth = depth.to(device=x.device, dtype=torch.float32)
        if self.level == 'image':
            if tuple(depth.shape[-2:]) != (h, w):
                raise ValueError(
                    f'VirtualStereo: image-level warping needs the depth at '
                    f'the size of x, got depth {tuple(depth.shape[-2:])} for '
                    f'x {h}x{w}')
            return self._forward_warp(x[:, 0], depth, gain / stride)
        return self._backward_warp(x[:, 0], depth, gain / stride)

    def _pixel_gain(self, cam2img: Tensor, ida_mat: Optional[Tensor],
                    batch: int, device: torch.device) -> Tensor:
        """Per-sample ``k`` with source column = ``u_R + k / depth``.

        ``k = ida[0, 0] * fx * baseline``: the disparity ``fx * b / z`` in
        augmented pixels, signed so that it points from the virtual view
        back to the real one.
        """
        if cam2img.shape[0] != batch or cam2img.shape[-2:] not in ((3, 3),
                                                                   (4, 4)):
            raise ValueError(f'VirtualStereo: expected cam2img of shape (B, '
                             f'3|4, 3|4) with B = {batch}, got '
                             f'{tuple(cam2img.shape)}')
        fx = cam2img[:, 0, 0].to(device=device, dtype=torch.float32)
        scale = torch.ones_like(fx)
        if ida_mat is not None:
            if ida_mat.shape[0] != batch:
                raise ValueError(f'VirtualStereo: expected ida_mat of shape '
                                 f'(B, 3, 3) with B = {batch}, got '
                                 f'{tuple(ida_mat.shape)}')
            # Checked on ida_mat where it is given, before it moves: OccDepth
            # passes its host copy, so no device tensor is read back.
            if (ida_mat[:, 1, 0] != 0).any():
                raise ValueError('VirtualStereo: ida_mat mixes u into v '
                                 '(rotation/shear); only flips, crops and '
                                 'resizes keep the virtual view horizontal')
            scale = ida_mat[:, 0, 0].to(device=device, dtype=torch.float32)
        return scale * fx * self.baseline

    @staticmethod
    def _sample_columns(img: Tensor, src_u: Tensor) -> Tensor:
        """Bilinear read of ``img`` (B, C, h, w) at columns ``src_u``
        (B, h, w) of each pixel's own row; border padding."""
        _, _, h, w = img.shape
        rows = torch.arange(h, device=img.device, dtype=src_u.dtype)
        grid_y = ((2 * rows + 1) / h - 1).view(1, h, 1).expand_as(src_u)
        grid_x = (2 * src_u + 1) / w - 1
        grid = torch.stack([grid_x, grid_y], dim=-1).to(img.dtype)
        return F.grid_sample(
            img,
            grid,
            mode='bilinear',
            padding_mode='border',
            align_corners=False)

    def _backward_warp(self, feat: Tensor, depth: Tensor,
                       gain: Tensor) -> Tuple[Tensor, Tensor]:
        b, _, h, w = feat.shape
        if tuple(depth.shape[-2:]) != (h, w):
            depth = F.interpolate(
                depth[:, None],
                size=(h, w),
                mode='bilinear',
                align_corners=False)[:, 0]
        valid = depth > 0
        disp = torch.where(valid,
                           gain.view(b, 1, 1) / depth.clamp(min=1e-6),
                           torch.zeros_like(depth))
        cols = torch.arange(w, device=feat.device, dtype=torch.float32)
        src_u = cols + disp
        out = self._sample_columns(feat, src_u)
        inside = (src_u >= -0.5) & (src_u <= w - 0.5)
        return out.unsqueeze(1), (valid & inside).unsqueeze(1)

    def _forward_warp(self, img: Tensor, depth: Tensor,
                      gain: Tensor) -> Tuple[Tensor, Tensor]:
        b, _, h, w = img.shape
        device = img.device
        has_depth = depth > 0
        # disparity in augmented pixels, signed: u_src = u_tgt + disp
        disp = torch.where(has_depth,
                           gain.view(b, 1, 1) / depth.clamp(min=1e-6),
                           torch.zeros_like(depth))
        cols = torch.arange(w, device=device, dtype=torch.float32)
        # each source pixel covers the two target pixels around u - disp
        first = torch.floor(cols - disp).long()
        row_base = torch.arange(b * h, device=device).view(b, h, 1) * w
        zbuf = torch.full((b * h * w, ), -1.0, device=device)
        for target in (first, first + 1):
            ok = has_depth & (target >= 0) & (target < w)
            flat = (row_base + target.clamp(0, w - 1)).reshape(-1)
            # z-buffer on |disparity|: the nearest source pixel wins. The
            # pixels that splat nowhere add -1, the empty value (a mask
            # index would read the count of hits back to the host).
            value = torch.where(ok, disp.abs(), -1.0).reshape(-1)
            zbuf.scatter_reduce_(0, flat, value, reduce='amax')
        zbuf = zbuf.view(b, h, w)
        hit = zbuf >= 0
        sign = torch.sign(gain).view(b, 1, 1)
        src_u = cols + sign * zbuf.clamp(min=0)

        # nearest hit column to the left / right of every pixel
        idx = torch.arange(w, device=device).expand(b, h, w)
        left = torch.where(hit, idx, torch.full_like(idx, -1)).cummax(-1)[0]
        rev = torch.where(hit.flip(-1), idx, torch.full_like(idx, -1))
        right = (w - 1) - rev.cummax(-1)[0].flip(-1)  # w when none
        has_left, has_right = left >= 0, right < w
        left_disp = zbuf.gather(-1, left.clamp(min=0))
        right_disp = zbuf.gather(-1, right.clamp(max=w - 1))
        use_left = has_left & (~has_right | (left_disp <= right_disp))
        use_right = has_right & ~use_left
        fill_u = torch.where(
            use_left, src_u.gather(-1, left.clamp(min=0)),
            torch.where(use_right, src_u.gather(-1, right.clamp(max=w - 1)),
                        cols.expand(b, h, w)))
        # hits next to the image edge may read beyond it (2-pixel splat)
        valid = hit & (src_u >= -0.5) & (src_u <= w - 0.5)
        src_u = torch.where(hit, src_u, fill_u)
        return (self._sample_columns(img,
                                     src_u).unsqueeze(1), valid.unsqueeze(1))

    def extra_repr(self) -> str:
        return f'level={self.level!r}, baseline={self.baseline}'
