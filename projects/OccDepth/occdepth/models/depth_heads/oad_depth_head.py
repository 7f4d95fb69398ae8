"""Occupancy-Aware Depth (OAD) head, paper Sec. 3.3.

A camera-aware depth network predicts a per-pixel distribution over ``D``
depth bins on the stride-``s`` feature map. The distribution is sampled at
every voxel centre (its pixel and its depth bin), giving a voxel-space
occupancy prior, and is distilled from depth maps (paper Eq. 6): the left
stereo map, or a LiDAR map per view (Table 4c).
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.utils import geometry

TARGET_BINNINGS = ('same', 'uniform')
GRID_CONVENTIONS = ('aligned', 'released')
FLIP_CONVENTIONS = ('pixel_center', 'released')


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Mlp(nn.Module):
    """Two linear layers with a ReLU in between."""

    def __init__(self, in_features: int, features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, features)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(features, features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SELayer(nn.Module):
    """Squeeze-excitation gate computed from a separate input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, channels, 1)
        self.act = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, x_se: Tensor) -> Tensor:
        gate = self.conv_expand(self.act(self.conv_reduce(x_se)))
        return x * gate.sigmoid()


@MODELS.register_module()
class OADepthHead(BaseModule):
    """Depth network, frustum-to-voxel sampling and depth distillation.

    Depth network (docs/reference-notes.md, OAD depth network): 3x3
    conv-BN-ReLU to ``mid_channels``;
    a squeeze-excitation gate driven by the camera's pixel size
    ``1000 * sqrt(1 / fx^2 + 1 / fy^2)`` through an MLP; three residual basic
    blocks; a 1x1 conv to ``D`` logits; softmax over ``D``.

    Frustum to voxel: every voxel centre is projected with ``lidar2img``
    (which includes the 2D augmentation) to a full-resolution pixel
    ``(u, v)`` and a continuous bin index ``t = depth_to_bin(depth)``; the
    probability volume ``(D, h, w)`` of each view is sampled trilinearly
    (``align_corners=False``, zero padding) at

    * column ``(u + 0.5) / stride - 0.5`` and row ``(v + 0.5) / stride - 0.5``
      in feature pixels (integer pixel centres at full resolution, each
      feature pixel covering ``stride`` x ``stride`` image pixels),
    * bin position ``t - 0.5``, so that bin ``k`` (``t`` in ``[k, k + 1)``)
      is read around its centre.

    This (``grid_convention='aligned'``) deliberately fixes the released
    code, which normalises with the full image size (``W - 1``, ``H - 1``,
    ``D - 1``) while sampling a 1/``stride`` map with ``align_corners=False``
    (a half-cell misalignment, docs/reference-notes.md, OAD sampling grid);
    ``grid_convention='released'`` reproduces that normalisation for
    checkpoints converted from the authors' code.

    A horizontally flipped sample maps pixel ``u`` to ``W - 1 - u`` (its
    ``ida_mat``, shared with Stereo-SFA and the images).
    ``flip_convention='released'`` samples the depth of a flipped sample at
    ``W - u`` instead, one full-resolution pixel to the right, like the
    authors' ``ida_mat`` (``img_transform`` in
    ``occdepth/data/semantic_kitti/kitti_dataset.py`` adds ``W``, while the
    SFA projection there uses ``W - 1``); ``'pixel_center'`` (default) uses
    the flip of the images. Points behind the camera
    or with non-finite coordinates sample nothing. Views are averaged with
    their coverage (a sampled volume of ones): ``sum_v sample_v / sum_v
    mask_v`` where the mask sum is positive; a single view is used as
    sampled.

    Args:
        in_channels: Channels of the stride-``feature_stride`` features.
        grid_size: ``(X, Y, Z)`` of the voxel grid.
        voxel_size: Voxel edge in metres.
        voxel_origin: Minimum corner of the grid in the voxel frame.
        mid_channels: Width of the depth network.
        depth_bound: ``(d_min, d_max, step)``; ``D = (d_max - d_min) / step``.
        discretization: ``'LID'``, ``'UD'`` or ``'SID'`` bins for the voxel
            lookup (paper Eq. 4, Table 4b).
        feature_stride: Downsampling of the input features w.r.t. the image.
        target_binning: Bins of the distillation target: ``'same'`` uses
            ``discretization`` (consistent with the lookup, the paper's
            method); ``'uniform'`` uses ``step``-metre bins like the released
            code (docs/reference-notes.md, Distillation bins).
        grid_convention: ``'aligned'`` (pixel-centre sampling, default) or
            ``'released'`` (the authors' normalisation, for their weights).
        flip_convention: ``'pixel_center'`` (flipped samples read the depth
            at the flipped pixel, default) or ``'released'`` (one pixel
            further right, ``u' = W - u``, to train like the authors' code).
        loss_depth: Config of the distillation loss (``DepthBCELoss``, paper
            Eq. 6) with its ``loss_weight``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 grid_size: Sequence[int],
                 voxel_size: Union[float, Sequence[float]],
                 voxel_origin: Sequence[float],
                 mid_channels: int = 128,
                 depth_bound: Sequence[float] = (2.0, 54.0, 0.5),
                 discretization: str = 'LID',
                 feature_stride: int = 8,
                 target_binning: str = 'same',
                 grid_convention: str = 'aligned',
                 flip_convention: str = 'pixel_center',
                 loss_depth: dict = dict(type='DepthBCELoss', loss_weight=1.0),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if discretization not in geometry.DEPTH_DISCRETIZATIONS:
            raise ValueError(f'OADepthHead: discretization must be one of '
                             f'{geometry.DEPTH_DISCRETIZATIONS}, got '
                             f'{discretization!r}')
        if target_binning not in TARGET_BINNINGS:
            raise ValueError(f'OADepthHead: target_binning must be one of '
                             f'{TARGET_BINNINGS}, got {target_binning!r}')
        if grid_convention not in GRID_CONVENTIONS:
            raise ValueError(f'OADepthHead: grid_convention must be one of '
                             f'{GRID_CONVENTIONS}, got {grid_convention!r}')
        if flip_convention not in FLIP_CONVENTIONS:
            raise ValueError(f'OADepthHead: flip_convention must be one of '
                             f'{FLIP_CONVENTIONS}, got {flip_convention!r}')
        depth_min, depth_max, step = (float(x) for x in depth_bound)
        num_bins = round((depth_max - depth_min) / step)
        if depth_min < 0 or step <= 0 or num_bins < 1 or abs(
                num_bins * step - (depth_max - depth_min)) > 1e-6 * step:
            raise ValueError(f'OADepthHead: depth_bound (min, max, step) must '
                             f'split [min, max] into whole steps, got '
                             f'{tuple(depth_bound)}')
        if len(grid_size) != 3:
            raise ValueError(f'OADepthHead: grid_size must have 3 entries, '
                             f'got {grid_size}')
        self.depth_min = depth_min
        self.depth_max = depth_max
        self.depth_step = step
        self.num_bins = num_bins
        self.discretization = discretization
        self.feature_stride = int(feature_stride)
        self.target_binning = target_binning
        self.grid_convention = grid_convention
        self.flip_convention = flip_convention
        self.grid_size = tuple(int(n) for n in grid_size)

        self.reduce_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1),
            nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True))
        self.mlp = Mlp(1, mid_channels)
        self.se = SELayer(mid_channels)
        self.depth_conv = nn.Sequential(
            *[BasicBlock(mid_channels) for _ in range(3)])
        self.depth_pred = nn.Conv2d(mid_channels, num_bins, 1)
        self.register_buffer(
            'voxel_centers',
            geometry.voxel_centers(self.grid_size, voxel_size, voxel_origin),
            persistent=False)
        self.loss_depth = MODELS.build(loss_depth)

    def depth_logits(self, feat: Tensor, cam2img: Tensor) -> Tensor:
        """Depth logits ``(N, D, h, w)`` of ``(N, C, h, w)`` features."""
        inv_f = 1.0 / torch.stack([cam2img[:, 0, 0], cam2img[:, 1, 1]], -1)
        pixel_size = inv_f.norm(dim=-1, keepdim=True) * 1000
        x = self.reduce_conv(feat)
        x_se = self.mlp(pixel_size.to(x.dtype))[..., None, None]
        x = self.depth_conv(self.se(x, x_se))
        return self.depth_pred(x)

    def sampling_grid(self,
                      lidar2img: Tensor,
                      img_hw: Sequence[int],
                      feat_hw: Sequence[int],
                      ida_mat: Optional[Tensor] = None) -> Tensor:
        """``grid_sample`` coordinates of every voxel in every view.

        Args:
            lidar2img: ``(B, V, 4, 4)`` voxel frame -> augmented pixels.
            img_hw: ``(H, W)`` of the full-resolution image.
            feat_hw: ``(h, w)`` of the depth map, ``ceil((H, W) / stride)``.
            ida_mat: ``(B, 3, 3)`` 2D augmentation of each sample (already
                part of ``lidar2img``), or None without augmentation; with
                ``flip_convention='released'`` a mirrored sample
                (``ida_mat[0, 0] < 0``) is read one pixel further right.

        Returns:
            ``(B, V, N, 3)`` float64 ``(x, y, z)`` in ``[-2, 2]``, ordered
            (column, row, bin); -2 where the voxel cannot be sampled.
        """
        h, w = feat_hw
        s = self.feature_stride
        if (h, w) != (math.ceil(img_hw[0] / s), math.ceil(img_hw[1] / s)):
            raise ValueError(
                f'OADepthHead: a {h}x{w} depth map is not the stride-{s} map '
                f'of a {img_hw[0]}x{img_hw[1]} image')
        uv, depth = geometry.project_points(self.voxel_centers, lidar2img)
        if self.flip_convention == 'released' and ida_mat is not None:
            # the authors flip about W (u' = W - u), the images about W - 1
            flipped = (ida_mat[:, 0, 0] < 0).to(uv.dtype)
            uv = torch.stack([uv[..., 0] + flipped[:, None, None], uv[..., 1]],
                             dim=-1)
        index = geometry.depth_to_bin(depth, self.discretization,
                                      self.depth_min, self.depth_max,
                                      self.num_bins)
        if self.grid_convention == 'aligned':
            # Normalised coordinate of feature pixel p with
            # align_corners=False is (2 p + 1) / size - 1, with
            # p = (u + 0.5) / s - 0.5 for pixels and p = index - 0.5 for bins.
            column = 2 * (uv[..., 0] + 0.5) / (s * w) - 1
            row = 2 * (uv[..., 1] + 0.5) / (s * h) - 1
            bin_pos = 2 * index / self.num_bins - 1
        else:
            # the released code: full-image size and D - 1
            column = 2 * uv[..., 0] / (img_hw[1] - 1) - 1
            row = 2 * uv[..., 1] / (img_hw[0] - 1) - 1
            bin_pos = 2 * index / (self.num_bins - 1) - 1
        grid = torch.stack([column, row, bin_pos], dim=-1)
        valid = torch.isfinite(grid).all(-1) & (depth > 0)
        grid = torch.where(
            valid.unsqueeze(-1), grid.clamp(-2, 2), torch.full_like(grid, -2))
        return grid

    def forward(self,
                feat: Tensor,
                cam2img: Tensor,
                lidar2img: Tensor,
                img_hw: Sequence[int],
                ida_mat: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Predict depth and its voxel-space occupancy prior.

        Args:
            feat: ``(B, V, C, h, w)`` features at ``1 / feature_stride``.
            cam2img: ``(B, V, 3|4, 3|4)`` intrinsics of each view.
            lidar2img: ``(B, V, 4, 4)`` voxel frame -> augmented pixels.
            img_hw: ``(H, W)`` of the full-resolution image.
            ida_mat: ``(B, 3, 3)`` 2D augmentation of each sample, or None
                (see :meth:`sampling_grid`).

        Returns:
            tuple: ``depth_prob`` ``(B, V, D, h, w)`` softmax probabilities
            and ``voxel_weight`` ``(B, 1, X, Y, Z)``.
        """
        b, v, c, h, w = feat.shape
        if lidar2img.shape[:2] != (b, v) or cam2img.shape[:2] != (b, v):
            raise ValueError(
                f'OADepthHead: cam2img {tuple(cam2img.shape)} and lidar2img '
                f'{tuple(lidar2img.shape)} must start with ({b}, {v}) for '
                f'features of shape {tuple(feat.shape)}')
        logits = self.depth_logits(feat.flatten(0, 1), cam2img.flatten(0, 1))
        prob = logits.softmax(dim=1).unflatten(0, (b, v))
        return prob, self.sample_voxels(prob, lidar2img, img_hw, ida_mat)

    def sample_voxels(self,
                      depth_prob: Tensor,
                      lidar2img: Tensor,
                      img_hw: Sequence[int],
                      ida_mat: Optional[Tensor] = None) -> Tensor:
        """Read every view's depth distribution at every voxel centre.

        Args:
            depth_prob: ``(B, V, D, h, w)`` depth probabilities.
            lidar2img: ``(B, V, 4, 4)`` voxel frame -> augmented pixels.
            img_hw: ``(H, W)`` of the full-resolution image.
            ida_mat: ``(B, 3, 3)`` 2D augmentation, or None (see
                :meth:`sampling_grid`).

        Returns:
            ``(B, 1, X, Y, Z)`` coverage-weighted mean over the views.
        """
        b, v, _, h, w = depth_prob.shape
        grid = self.sampling_grid(lidar2img, img_hw, (h, w), ida_mat)
        grid = grid.to(depth_prob.dtype).flatten(0, 1)[:, None, None]
        # Channel 0: probabilities; channel 1: ones for the coverage mask.
        prob = depth_prob.flatten(0, 1)
        volume = torch.stack([prob, torch.ones_like(prob)], dim=1)
        sampled = F.grid_sample(
            volume,
            grid,
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False)
        sampled = sampled.reshape(b, v, 2, -1)
        if v == 1:
            weight = sampled[:, 0, 0]
        else:
            total = sampled[:, :, 0].sum(1)
            cover = sampled[:, :, 1].sum(1)
            weight = total / torch.where(cover > 0, cover,
                                         torch.ones_like(cover))
        return weight.reshape(b, 1, *self.grid_size)

    def depth_targets(self, gt_depth: Tensor,
                      feat_hw: Sequence[int]) -> Tensor:
        """Target bin of every feature pixel.

        The depth map is resized (nearest) to ``stride * (h, w)``, each
        ``stride`` x ``stride`` block keeps its smallest valid (positive)
        depth, and the depth is binned with ``target_binning``, as the
        authors' ``DepthClsLoss._get_downsampled_gt_depth`` does
        (docs/reference-notes.md, Distillation bins).

        Args:
            gt_depth: ``(B, H, W)`` metres, 0 where unknown.
            feat_hw: ``(h, w)`` of the depth map.

        Returns:
            ``(B, h, w)`` long bin in ``[0, D)``, -1 where there is none.
        """
        if gt_depth.dim() != 3:
            raise ValueError(f'OADepthHead: gt_depth must be (B, H, W), got '
                             f'{tuple(gt_depth.shape)}')
        h, w = feat_hw
        s = self.feature_stride
        depth = F.interpolate(
            gt_depth[:, None].float(), size=(s * h, s * w), mode='nearest')
        depth = depth.reshape(-1, h, s, w, s)
        depth = torch.where(depth > 0, depth, torch.full_like(depth, 1e5))
        depth = depth.amin(dim=(2, 4))
        valid = depth < 1e5
        if self.target_binning == 'uniform':
            # Released code: t = (d - (d_min - step)) / step, class 0 and
            # t >= D + 1 dropped.
            t = (depth - (self.depth_min - self.depth_step)) / self.depth_step
            index = torch.floor(t) - 1
        else:
            index = torch.floor(
                geometry.depth_to_bin(depth, self.discretization,
                                      self.depth_min, self.depth_max,
                                      self.num_bins))
        valid = valid & (index >= 0) & (index < self.num_bins)
        index = torch.where(valid, index, torch.full_like(index, -1))
        return index.long()

    def loss(self, depth_prob: Tensor, gt_depth: Tensor) -> Dict[str, Tensor]:
        """Depth distillation loss over every view that has a depth map.

        A stereo depth map supervises view 0; per-view maps (LiDAR depth)
        supervise views ``0 .. V_gt - 1``. As in the authors'
        ``get_depth_loss`` (``occdepth/loss/depth_loss.py``), the feature
        pixels of all supervised views are pooled into one set of rows, so
        the loss is the BCE summed over the rows with a target of every view
        divided by their total count (not a mean of per-view losses).

        Args:
            depth_prob: ``(B, V, D, h, w)`` from :meth:`forward`.
            gt_depth: ``(B, H, W)`` depth of view 0, or ``(B, V_gt, H, W)``
                one map per view, ``V_gt <= V``; metres, 0 = unknown.

        Returns:
            dict: ``loss_depth``.
        """
        b, v, d, h, w = depth_prob.shape
        if gt_depth.dim() == 3:
            gt_depth = gt_depth[:, None]
        if (gt_depth.dim() != 4 or gt_depth.shape[0] != b
                or not 1 <= gt_depth.shape[1] <= v):
            raise ValueError(f'OADepthHead: gt_depth must be (B, H, W) or '
                             f'(B, V_gt, H, W) with B = {b} and V_gt <= {v} '
                             f'views, got {tuple(gt_depth.shape)}')
        views = gt_depth.shape[1]
        target = self.depth_targets(gt_depth.flatten(0, 1), (h, w))
        prob = depth_prob[:, :views].flatten(0, 1)
        prob = prob.permute(0, 2, 3, 1).reshape(-1, d)
        return dict(loss_depth=self.loss_depth(prob, target.reshape(-1)))
