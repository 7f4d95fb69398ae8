"""Camera and voxel geometry: the one place where voxels meet pixels.

Conventions used everywhere in OccDepth:

* The *voxel frame* is the frame whose axes are the grid axes (SemanticKITTI:
  the velodyne frame, x forward, y left, z up, metres). A voxel with integer
  index ``(i, j, k)`` has its centre at ``origin + (idx + 0.5) * voxel_size``
  and grids are stored in C order ``(X, Y, Z)``. Datasets whose labels use
  another axis order (NYUv2) fold the permutation into ``lidar2cam``.
* ``cam2img`` maps camera coordinates to pixels with pixel centres at integer
  coordinates: pixel ``(u, v)`` covers ``[u - 0.5, u + 0.5)``.
* ``img_aug`` (the ``ida_mat`` of a data sample) is a 3x3 affine map of
  homogeneous pixel coordinates ``(u, v, 1)`` that records the 2D
  augmentation applied to the images (flip, crop, resize). Composed with the
  projection it maps voxels straight onto the augmented pixels, so geometry
  undoes the augmentation exactly. (Being linear in ``(u, v, 1)``, it acts on
  the un-normalised ``(u z, v z, z)`` the same way.)
* Depth is the camera z coordinate in metres.
"""
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[Tensor, np.ndarray, Sequence[float]]

DEPTH_DISCRETIZATIONS = ('UD', 'LID', 'SID')


def voxel_centers(grid_size: Sequence[int],
                  voxel_size: Union[float, Sequence[float]],
                  origin: Sequence[float],
                  device: Optional[torch.device] = None) -> Tensor:
    """Centres of every voxel of a grid, flattened in C order.

    Computed like the authors' ``TSDFVolume.vox2world``
    (``occdepth/data/utils/fusion.py``): the origin is rounded to float32,
    ``origin + size * idx + size * 0.5`` is evaluated in float64 and the
    result is stored in float32. Rounding only the sum (not each product, as
    a float32 computation would) keeps every projected centre on the
    authors' side of a pixel boundary; :func:`project_points` then projects
    these float32 values in float64, as the authors' ``rigid_transform``
    does.

    Args:
        grid_size: ``(X, Y, Z)`` number of voxels along each axis.
        voxel_size: Edge length(s) in metres.
        origin: Voxel-frame coordinates of the grid's minimum corner.
        device: Device of the result.

    Returns:
        float32 tensor of shape ``(X * Y * Z, 3)``; row
        ``i * Y * Z + j * Z + k`` is the centre of voxel ``(i, j, k)``.
    """
    org = torch.as_tensor(origin, dtype=torch.float32, device=device)
    size = torch.as_tensor(
        voxel_size, dtype=torch.float64, device=device).expand(3)
    centers = org.double() + size * _voxel_indices(grid_size, device) + \
        size * 0.5
    return centers.to(torch.float32)


def voxel_centers_float64(grid_size: Sequence[int],
                          voxel_size: Union[float, Sequence[float]],
                          origin: Sequence[float],
                          device: Optional[torch.device] = None) -> Tensor:
    """Centres ``origin + (idx + 0.5) * size`` of every voxel in float64,
    without :func:`voxel_centers`' float32 roundings, for the offline label
    exporters (same order and arguments as :func:`voxel_centers`)."""
    org = torch.as_tensor(origin, dtype=torch.float64, device=device)
    size = torch.as_tensor(
        voxel_size, dtype=torch.float64, device=device).expand(3)
    return org + (_voxel_indices(grid_size, device) + 0.5) * size


def _voxel_indices(grid_size: Sequence[int],
                   device: Optional[torch.device]) -> Tensor:
    """``(X * Y * Z, 3)`` float64 voxel indices in C order."""
    axes = [
        torch.arange(n, dtype=torch.float64, device=device) for n in grid_size
    ]
    return torch.stack(
        torch.meshgrid(*axes, indexing='ij'), dim=-1).reshape(-1, 3)


def to_4x4(mat: Tensor) -> Tensor:
    """Pad ``(..., 3, 3)`` or ``(..., 3, 4)`` matrices to ``(..., 4, 4)``."""
    if mat.shape[-2:] == (4, 4):
        return mat
    rows, cols = mat.shape[-2:]
    if rows != 3 or cols not in (3, 4):
        raise ValueError(f'expected a 3x3, 3x4 or 4x4 matrix, got '
                         f'{tuple(mat.shape[-2:])}')
    out = torch.zeros(
        *mat.shape[:-2], 4, 4, dtype=mat.dtype, device=mat.device)
    out[..., :3, :cols] = mat
    out[..., 3, 3] = 1
    return out


def build_lidar2img(cam2img: Tensor,
                    lidar2cam: Tensor,
                    img_aug: Optional[Tensor] = None) -> Tensor:
    """Compose voxel frame -> augmented image pixels.

    Args:
        cam2img: ``(..., 3|4, 3|4)`` intrinsics.
        lidar2cam: ``(..., 4, 4)`` voxel frame -> camera.
        img_aug: Optional ``(..., 3, 3)`` affine 2D augmentation of pixels
            (a 4x4 identity is accepted too).

    Returns:
        ``(..., 4, 4)`` matrix ``img_aug @ cam2img @ lidar2cam``.
    """
    mat = to_4x4(cam2img) @ to_4x4(lidar2cam)
    if img_aug is not None:
        mat = to_4x4(img_aug) @ mat
    return mat


def project_points(points: Tensor,
                   lidar2img: Tensor,
                   eps: float = 1e-8) -> Tuple[Tensor, Tensor]:
    """Project voxel-frame points into every view of every sample.

    The transform runs in float64 so that integer pixel rounding matches a
    float64 reference even at half-pixel ties.

    Args:
        points: ``(N, 3)`` points shared by all samples, or ``(B, N, 3)``.
        lidar2img: ``(B, V, 4, 4)`` matrices from :func:`build_lidar2img`.
        eps: Denominator guard for points on the camera plane.

    Returns:
        tuple: ``uv`` ``(B, V, N, 2)`` continuous pixel coordinates (float64)
        and ``depth`` ``(B, V, N)`` camera z in metres (float64).
    """
    mat = lidar2img.to(torch.float64)
    pts = points.to(device=mat.device, dtype=torch.float64)
    if pts.dim() == 2:
        pts = pts.unsqueeze(0)
    # (B, 1, N, 3) @ (B, V, 3, 3)^T + t -> (B, V, N, 3)
    rot = mat[..., :3, :3]
    trans = mat[..., :3, 3]
    cam = torch.einsum('bvij,bnj->bvni', rot, pts) + trans.unsqueeze(-2)
    depth = cam[..., 2]
    safe = torch.where(depth.abs() > eps, depth, torch.full_like(depth, eps))
    uv = cam[..., :2] / safe.unsqueeze(-1)
    return uv, depth


def round_pixels(uv: Tensor) -> Tensor:
    """Round continuous pixel coordinates to integer pixels.

    ``torch.round`` rounds half to even, like numpy's ``np.round`` used by the
    reference implementation.
    """
    return torch.round(uv).long()


def in_image(pix: Tensor, depth: Tensor, img_hw: Sequence[int]) -> Tensor:
    """Whether integer pixels fall inside the image, in front of the camera.

    Args:
        pix: ``(..., 2)`` integer pixels ``(u, v)``.
        depth: ``(...)`` camera z.
        img_hw: ``(H, W)`` of the image the pixels refer to.

    Returns:
        Bool tensor of shape ``(...)``.
    """
    h, w = img_hw
    u, v = pix[..., 0], pix[..., 1]
    return (u >= 0) & (u < w) & (v >= 0) & (v < h) & (depth > 0)


def horizontal_flip_matrix(width: int) -> np.ndarray:
    """3x3 pixel transform of a horizontal flip: ``u' = width - 1 - u``."""
    mat = np.eye(3)
    mat[0, 0] = -1
    mat[0, 2] = width - 1
    return mat


def frustum_cells(pix: Tensor, fov: Tensor, img_hw: Sequence[int],
                  frustum_size: int) -> Tensor:
    """Index of the local frustum (image cell) each projected voxel hits.

    The image is split into ``frustum_size`` x ``frustum_size`` equal cells,
    cell ``row * frustum_size + col``.

    Args:
        pix: ``(..., 2)`` integer pixels.
        fov: ``(...)`` in-image mask from :func:`in_image`.
        img_hw: Image ``(H, W)``.
        frustum_size: Cells per image side.

    Returns:
        Long tensor ``(...)`` with the cell index, or -1 outside the image.
    """
    h, w = img_hw
    col = torch.div(pix[..., 0] * frustum_size, w, rounding_mode='floor')
    row = torch.div(pix[..., 1] * frustum_size, h, rounding_mode='floor')
    cell = row * frustum_size + col
    return torch.where(fov, cell, torch.full_like(cell, -1))


class CameraCache:
    """Small least-recently-used cache of per-camera geometry tables.

    Projection tables (pixel of every voxel, frustum cells) depend only on
    a sample's camera matrices, the image size and the grid, so a training
    set with a handful of calibrations (times the flip augmentation) reuses
    a few entries. Keys hold the exact bytes of the float64 matrices.

    Args:
        max_entries: Entries kept; 0 disables caching.
    """

    def __init__(self, max_entries: int = 8) -> None:
        if max_entries < 0:
            raise ValueError('CameraCache: max_entries must be >= 0, got '
                             f'{max_entries}')
        self.max_entries = max_entries
        self._entries: 'OrderedDict[tuple, Any]' = OrderedDict()

    @staticmethod
    def key(mat: Tensor, *extra: Hashable) -> tuple:
        """Key of one sample's ``(V, 4, 4)`` matrices plus ``extra``."""
        data = mat.detach().to('cpu', torch.float64).contiguous()
        return (data.numpy().tobytes(), tuple(data.shape), str(mat.device),
                *extra)

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The cached value of ``key``, computed on a miss."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = compute()
        if self.max_entries:
            self._entries[key] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


def _check_mode(mode: str) -> None:
    if mode not in DEPTH_DISCRETIZATIONS:
        raise ValueError(f'depth discretization must be one of '
                         f'{DEPTH_DISCRETIZATIONS}, got {mode!r}')


def depth_to_bin(depth: Tensor, mode: str, depth_min: float, depth_max: float,
                 num_bins: int) -> Tensor:
    """Continuous depth-bin index of metric depth (paper Eq. 4).

    Bin ``k`` covers ``[edge(k), edge(k + 1))`` where ``edge`` is
    :func:`bin_to_depth`. Depths outside ``[depth_min, depth_max]`` give
    indices outside ``[0, num_bins]`` (LID: NaN below ``depth_min``).

    Args:
        depth: Depth in metres.
        mode: ``'UD'`` (uniform), ``'LID'`` (linear-increasing) or ``'SID'``
            (spacing-increasing, log-uniform).
        depth_min: Near bound of the first bin.
        depth_max: Far bound of the last bin.
        num_bins: Number of bins D.
    """
    _check_mode(mode)
    if mode == 'UD':
        return (depth - depth_min) / ((depth_max - depth_min) / num_bins)
    if mode == 'LID':
        bin_size = 2 * (depth_max - depth_min) / (num_bins * (num_bins + 1))
        return -0.5 + 0.5 * torch.sqrt(1 + 8 * (depth - depth_min) / bin_size)
    log_min = np.log1p(depth_min)
    log_max = np.log1p(depth_max)
    return num_bins * (torch.log1p(depth) - log_min) / (log_max - log_min)


def bin_to_depth(index: Tensor, mode: str, depth_min: float, depth_max: float,
                 num_bins: int) -> Tensor:
    """Inverse of :func:`depth_to_bin`: metric depth of a bin index."""
    _check_mode(mode)
    if mode == 'UD':
        return depth_min + index * (depth_max - depth_min) / num_bins
    if mode == 'LID':
        return depth_min + (depth_max - depth_min) * index * (index + 1) / (
            num_bins * (num_bins + 1))
    log_min = np.log1p(depth_min)
    log_max = np.log1p(depth_max)
    return torch.expm1(log_min + index / num_bins * (log_max - log_min))


def grid_to_frame_matrix(axes: Sequence[int],
                         origin: Sequence[float]) -> np.ndarray:
    """4x4 map from a grid-aligned frame to the frame its labels live in.

    Some datasets store labels in an array whose axes are a permutation of
    their reference frame's axes, with a per-frame origin (NYUv2: array axes
    world ``(x, z, y)``, origin = the file's ``vox_origin``). Their voxel
    frame is then the grid frame: axis ``i`` along array axis ``i``, origin at
    the grid's minimum corner, and this matrix takes a grid-frame point to
    the reference frame: ``ref[axes[i]] = p[i]``, plus ``origin``.
    Composing it into ``lidar2cam`` lets the model project
    ``voxel_centers(grid, size, (0, 0, 0))`` without special cases.

    Args:
        axes: Reference-frame axis of each grid axis, a permutation of
            ``(0, 1, 2)``.
        origin: Reference-frame coordinates of the grid's minimum corner.

    Returns:
        float64 ``(4, 4)`` matrix.
    """
    axes = tuple(int(a) for a in axes)
    if sorted(axes) != [0, 1, 2]:
        raise ValueError(f'axes must be a permutation of (0, 1, 2), got '
                         f'{axes}')
    origin = np.asarray(origin, dtype=np.float64).reshape(-1)
    if origin.shape != (3, ):
        raise ValueError(f'origin must have 3 values, got {origin.shape}')
    mat = np.zeros((4, 4))
    mat[list(axes), [0, 1, 2]] = 1.0
    mat[:3, 3] = origin
    mat[3, 3] = 1.0
    return mat


def shift_camera(lidar2cam: np.ndarray, baseline: float) -> np.ndarray:
    """Extrinsics of a camera moved by ``baseline`` along its own +x axis.

    The shifted camera sees a point at camera coordinates ``c`` at
    ``c - (baseline, 0, 0)``; with the same intrinsics ``K`` its pixel is
    ``u - fx * baseline / z``: a stereo right camera for ``baseline > 0``.

    Args:
        lidar2cam: ``(..., 4, 4)`` voxel frame -> camera.
        baseline: Displacement in metres.

    Returns:
        float64 ``(..., 4, 4)`` voxel frame -> shifted camera.
    """
    shift = np.eye(4)
    shift[0, 3] = -float(baseline)
    return shift @ np.asarray(lidar2cam, dtype=np.float64)


def camera_frustum(cam2img: np.ndarray,
                   lidar2cam: np.ndarray,
                   img_hw: Tuple[int, int],
                   distance: float = 10.0) -> np.ndarray:
    """Camera frustum corners in the voxel frame.

    Args:
        cam2img: ``(3, 3)`` (or larger) intrinsics.
        lidar2cam: ``(4, 4)`` voxel frame -> camera.
        img_hw: Image ``(H, W)``; its border is at pixel ``-0.5`` and
            ``W - 0.5`` / ``H - 0.5`` (integer pixel centres).
        distance: Camera depth of the far rectangle in metres.

    Returns:
        ``(5, 3)`` points: the camera centre, then the far rectangle's
        top-left, top-right, bottom-right and bottom-left corners (the
        image's corners), as ``visualization.render_voxels`` expects.
    """
    k = np.asarray(cam2img, dtype=np.float64)[:3, :3]
    t = np.asarray(lidar2cam, dtype=np.float64)
    if t.shape != (4, 4):
        raise ValueError(f'lidar2cam must be 4x4, got {t.shape}')
    h, w = img_hw
    pix = np.array([[-0.5, -0.5, 1.0], [w - 0.5, -0.5, 1.0],
                    [w - 0.5, h - 0.5, 1.0], [-0.5, h - 0.5, 1.0]])
    rays = pix @ np.linalg.inv(k).T
    cam = np.concatenate([np.zeros((1, 3)), rays * distance])
    cam_h = np.concatenate([cam, np.ones((5, 1))], axis=1)
    return (cam_h @ np.linalg.inv(t).T)[:, :3]
