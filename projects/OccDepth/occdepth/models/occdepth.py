"""OccDepth: stereo (or RGB-D) images -> semantic voxel grid.

The segmentor wires the parts of the paper (Sec. 3):

1. ``backbone``: 2D multi-scale features of every view;
2. ``view_transformer``: Stereo-SFA lifts them to the projected voxel grid;
3. ``depth_head`` (optional, OAD): a per-view depth distribution sampled into
   the voxels multiplies the SFA volume; stereo-depth distillation trains it;
4. ``occ_head``: 3D UNet + CRP + decoupled occupancy/semantic head and the
   SSC losses.

With RGB-D input (NYUv2) an optional ``virtual_stereo`` module makes the
second view from the image and its depth map, either before the backbone
(``level='image'``, the paper's virtual stereo image) or on every feature
scale (``level='feature'``, the released code); the calibration of a sample
then holds both the real and the virtual camera.

All camera geometry is computed here once per batch, on the host (float64,
from the ``cam2img``, ``lidar2cam`` and ``ida_mat`` metainfo of the samples),
then copied to the model's device. The keys of the camera caches (frustum
cells here, Stereo-SFA's sampling tables) come from the host copy, so a
training step never reads a device tensor back to find its cached tables.

The scene geometry and the feature width are declared once, on this model,
and handed to the parts that need them before they are built (as mmdet
detectors hand ``train_cfg`` / ``test_cfg`` to their heads): the output grid
``grid_size`` of ``voxel_size`` voxels at ``voxel_origin``; the projected grid
of Stereo-SFA and OAD, ``project_scale`` times coarser (paper Sec. 3.2; the
3D UNet upsamples it back); the width ``feature_channels`` of the 2D features
and of the 3D volume. A part's config may restate one of these values only
with the same value.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModel
from torch import Tensor

from projects.OccDepth.occdepth.models.utils import geometry

ForwardResults = Union[Dict[str, Tensor], List, Tuple[Tensor, ...]]
# {argument of a part: (value, the OccDepth setting it comes from)}
HandedDown = Dict[str, Tuple[Any, str]]


def _same(a: Any, b: Any) -> bool:
    """Equal values; floats within rounding, sequences element-wise."""
    if isinstance(b, (tuple, list)):
        return (isinstance(a, (tuple, list)) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(b, float) and isinstance(a, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _hand_down(part: str, cfg: Dict, values: HandedDown) -> Dict:
    """``cfg`` of the part ``part`` with the model-level ``values`` set.

    Args:
        part: Name of the part (for the error message).
        cfg: The part's config; not modified.
        values: ``{argument: (value, the OccDepth setting it comes from)}``.

    Returns:
        dict: A copy of ``cfg`` with every argument of ``values`` set.

    Raises:
        ValueError: if ``cfg`` sets one of the arguments to another value.
    """
    cfg = dict(cfg)
    for key, (value, source) in values.items():
        if key in cfg and not _same(cfg[key], value):
            raise ValueError(
                f'OccDepth: {part}.{key} = {cfg[key]!r} contradicts the '
                f'model\'s {source} = {value!r}; set it once, on the model')
        cfg[key] = value
    return cfg


@MODELS.register_module()
class OccDepth(BaseModel):
    """The OccDepth semantic scene completion model.

    Args:
        backbone: Config of the 2D backbone (``EfficientNetUNet2D``).
        view_transformer: Config of the 2D->3D lifting (``StereoSFA``).
        occ_head: Config of the 3D network and losses (``SSCHead``).
        depth_head: Config of the OAD depth head, or None to disable OAD.
        virtual_stereo: Config of the RGB-D virtual second view, or None.
        grid_size: Output grid ``(X, Y, Z)``.
        voxel_size: Output voxel edge in metres.
        voxel_origin: Voxel-frame coordinates of the grid's min corner.
        project_scale: Output / projected grid ratio: Stereo-SFA and OAD
            work on ``grid_size / project_scale`` voxels of
            ``voxel_size * project_scale`` metres (2 for KITTI, 1 for NYU).
        feature_channels: Width ``C`` of the backbone's output features,
            the lifted volume and the 3D UNet's input.
        num_views: Image views of a sample (2 for stereo, 1 for a
            monocular or an RGB-D input); ``virtual_stereo`` adds one.
        depth_scale: Factor applied with the OAD voxel weight (the reference
            multiplies by 100 so that a uniform 1/D distribution is ~1).
        data_preprocessor: Config of ``SSCDataPreprocessor``.
        init_cfg: Initialisation config.
    """

    def __init__(self,
                 backbone: Dict,
                 view_transformer: Dict,
                 occ_head: Dict,
                 depth_head: Optional[Dict] = None,
                 virtual_stereo: Optional[Dict] = None,
                 grid_size: Sequence[int] = (256, 256, 32),
                 voxel_size: float = 0.2,
                 voxel_origin: Sequence[float] = (0.0, -25.6, -2.0),
                 project_scale: int = 2,
                 feature_channels: int = 64,
                 num_views: int = 2,
                 depth_scale: float = 100.0,
                 data_preprocessor: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if len(grid_size) != 3 or any(
                int(n) % project_scale for n in grid_size):
            raise ValueError(f'OccDepth: grid_size {tuple(grid_size)} must '
                             f'be 3 sizes divisible by project_scale '
                             f'{project_scale}')
        if num_views < 1:
            raise ValueError(f'OccDepth: num_views must be at least 1, got '
                             f'{num_views}')
        self.grid_size = tuple(int(n) for n in grid_size)
        self.voxel_size = float(voxel_size)
        self.voxel_origin = tuple(float(x) for x in voxel_origin)
        self.project_scale = int(project_scale)
        self.feature_channels = int(feature_channels)
        self.num_views = int(num_views)
        self.depth_scale = depth_scale

        # what the parts get: argument -> (value, the setting it comes from)
        feature = (self.feature_channels, 'feature_channels')
        projected = dict(
            grid_size=(tuple(n // self.project_scale for n in self.grid_size),
                       'grid_size / project_scale'),
            voxel_size=(self.voxel_size * self.project_scale,
                        'voxel_size * project_scale'),
            voxel_origin=(self.voxel_origin, 'voxel_origin'))
        lifted = dict(projected)
        # Stereo-SFA's concat fusion is the only one with weights: a 1x1x1
        # convolution from V * C to C channels (paper Table 4a "Concat").
        if view_transformer.get('fusion') == 'concat':
            lifted.update(
                in_channels=feature,
                num_views=(self.num_views + int(bool(virtual_stereo)),
                           'num_views (+ 1 with virtual_stereo)'))
        self.backbone = MODELS.build(
            _hand_down('backbone', backbone, dict(out_channels=feature)))
        self.view_transformer = MODELS.build(
            _hand_down('view_transformer', view_transformer, lifted))
        self.depth_head = None
        if depth_head:
            self.depth_head = MODELS.build(
                _hand_down('depth_head', depth_head,
                           dict(projected, in_channels=feature)))
        self.virtual_stereo = (
            MODELS.build(virtual_stereo) if virtual_stereo else None)
        self.occ_head = MODELS.build(
            _hand_down(
                'occ_head', occ_head,
                dict(
                    in_channels=feature,
                    grid_size=projected['grid_size'],
                    project_scale=(self.project_scale, 'project_scale'))))
        # frustum cells of the last camera set-ups (int16, 2 * V * N bytes)
        self.frustum_cache = geometry.CameraCache(8)

        out_scales = tuple(self.backbone.out_scales)
        missing = [
            s for s in self.view_transformer.scales if s not in out_scales
        ]
        if self.depth_head is not None and (self.depth_head.feature_stride
                                            not in out_scales):
            missing.append(self.depth_head.feature_stride)
        if missing:
            raise ValueError(f'backbone.out_scales {out_scales} lacks the '
                             f'feature scale(s) {missing} used by the view '
                             'transformer / depth head')

    # ------------------------------------------------------------------
    # geometry
    # ------------------------------------------------------------------
    def _stack_meta(self, data_samples: Sequence, key: str) -> Tensor:
        try:
            values = [
                torch.as_tensor(s.metainfo[key], dtype=torch.float64)
                for s in data_samples
            ]
        except KeyError as exc:
            raise KeyError(f'data sample metainfo lacks {key!r}, needed for '
                           'the camera geometry') from exc
        return torch.stack(values)

    def camera_geometry(self, data_samples: Sequence,
                        num_views: int) -> Dict[str, Tensor]:
        """Per-batch camera matrices on the model's device.

        They are computed on the host from the metainfo and copied to the
        device once; ``host`` keeps the host copies, from which the cache
        keys and the virtual-stereo checks are read (no device read-back
        per step).

        Returns:
            dict with ``cam2img`` (B, V, 4, 4), ``ida_mat`` (B, 3, 3) or
            None and ``lidar2img`` (B, V, 4, 4) (voxel frame -> augmented
            image pixels) on the device, all float64, and ``host``: a dict
            of the same three on the host.
        """
        cam2img = geometry.to_4x4(self._stack_meta(data_samples, 'cam2img'))
        lidar2cam = self._stack_meta(data_samples, 'lidar2cam')
        if 'ida_mat' in data_samples[0].metainfo:
            ida = self._stack_meta(data_samples, 'ida_mat')
            ida = ida.unsqueeze(1).expand(-1, num_views, -1, -1)
        else:
            ida = None
        if cam2img.shape[1] != num_views or lidar2cam.shape[1] != num_views:
            raise ValueError(f'the model sees {num_views} view(s) but the '
                             f'calibration has {cam2img.shape[1]} cam2img '
                             f'and {lidar2cam.shape[1]} lidar2cam matrices')
        host = dict(
            cam2img=cam2img,
            ida_mat=ida[:, 0] if ida is not None else None,
            lidar2img=geometry.build_lidar2img(cam2img, lidar2cam, ida))
        device = self.data_preprocessor.device
        on_device = {
            name: None if mat is None else mat.to(device)
            for name, mat in host.items()
        }
        return dict(on_device, host=host)

    def frustum_cells(self,
                      lidar2img: Tensor,
                      img_hw: Sequence[int],
                      host_lidar2img: Optional[Tensor] = None) -> Tensor:
        """Local-frustum cell of every output voxel in every view.

        The cells of a sample depend only on its matrices and the image
        size: they are computed once per camera set-up and kept as int16
        in :attr:`frustum_cache`.

        Args:
            lidar2img: (B, V, 4, 4) matrices on the model's device.
            img_hw: Image (H, W).
            host_lidar2img: The same matrices on the host, from which the
                cache keys are made without a device read-back; default:
                ``lidar2img`` (read back when it is on a device).

        Returns:
            Long tensor (B, V, X * Y * Z), -1 where the voxel is not seen.
        """
        img_hw = tuple(int(n) for n in img_hw)
        size = self.occ_head.frustum_size
        host = lidar2img if host_lidar2img is None else host_lidar2img
        device = str(lidar2img.device)
        cells = [
            self.frustum_cache.get(
                self.frustum_cache.key(host[i], img_hw, size, device),
                lambda mat=mat: self._compute_frustum_cells(
                    mat[None], img_hw, size)[0].to(torch.int16))
            for i, mat in enumerate(lidar2img)
        ]
        return torch.stack(cells).long()

    def _compute_frustum_cells(self, lidar2img: Tensor, img_hw: Sequence[int],
                               frustum_size: int) -> Tensor:
        """Uncached :meth:`frustum_cells` of ``(B, V, 4, 4)`` matrices."""
        if frustum_size**2 > torch.iinfo(torch.int16).max:
            raise ValueError(f'frustum_size {frustum_size} gives more cells '
                             'than the int16 cell table holds')
        centers = geometry.voxel_centers(
            self.grid_size,
            self.voxel_size,
            self.voxel_origin,
            device=lidar2img.device)
        uv, depth = geometry.project_points(centers, lidar2img)
        pix = geometry.round_pixels(uv)
        fov = geometry.in_image(pix, depth, img_hw)
        return geometry.frustum_cells(pix, fov, img_hw, frustum_size)

    # ------------------------------------------------------------------
    # forward passes
    # ------------------------------------------------------------------
    def extract_feat(self, imgs: Tensor,
                     data_samples: Sequence) -> Dict[str, Tensor]:
        """Images -> 3D head outputs (and the OAD depth distribution)."""
        img_hw = imgs.shape[-2:]
        num_views = imgs.shape[1]
        if num_views != self.num_views:
            raise ValueError(f'OccDepth: the model takes {self.num_views} '
                             f'image view(s) per sample (num_views), the '
                             f'batch has {num_views}')
        if self.virtual_stereo is not None:
            num_views += 1
        geo = self.camera_geometry(data_samples, num_views)
        if self.virtual_stereo is not None:
            depth = self._stack_field(data_samples, 'gt_depth')
            if depth is None:
                raise ValueError('virtual stereo needs the depth map '
                                 '(gt_depth) of every sample, at test time '
                                 'too')
            # host matrices: the module checks ida_mat without a read-back
            virtual = dict(
                depth=depth,
                cam2img=geo['host']['cam2img'][:, 0],
                ida_mat=geo['host']['ida_mat'])
            if self.virtual_stereo.level == 'image':
                imgs = self.virtual_stereo(imgs, stride=1, **virtual)
        feats = self.backbone(imgs)
        if (self.virtual_stereo is not None
                and self.virtual_stereo.level == 'feature'):
            feats = [
                self.virtual_stereo(feat, stride=scale, **virtual)
                for feat, scale in zip(feats, self.backbone.out_scales)
            ]
        by_scale = dict(zip(self.backbone.out_scales, feats))
        x3d = self.view_transformer(
            [by_scale[s] for s in self.view_transformer.scales],
            geo['lidar2img'],
            img_hw,
            host_lidar2img=geo['host']['lidar2img'])
        outputs = {}
        if self.depth_head is not None:
            depth_prob, voxel_weight = self.depth_head(
                by_scale[self.depth_head.feature_stride], geo['cam2img'],
                geo['lidar2img'], img_hw, geo['ida_mat'])
            x3d = x3d * (voxel_weight * self.depth_scale)
            outputs['depth_prob'] = depth_prob
        outputs.update(self.occ_head(x3d))
        outputs['lidar2img'] = geo['lidar2img']
        outputs['lidar2img_host'] = geo['host']['lidar2img']
        return outputs

    @staticmethod
    def _stack_field(data_samples: Sequence, key: str) -> Optional[Tensor]:
        if not all(hasattr(s, key) for s in data_samples):
            return None
        return torch.stack([getattr(s, key) for s in data_samples])

    def loss(self, inputs: Dict[str, Tensor],
             data_samples: Sequence) -> Dict[str, Tensor]:
        """Forward with every configured loss, each returned by name."""
        imgs = inputs['imgs']
        outputs = self.extract_feat(imgs, data_samples)
        gt_occ = self._stack_field(data_samples, 'gt_occ')
        if gt_occ is None:
            raise ValueError('training needs gt_occ on every data sample '
                             '(is the split a test split without labels?)')
        gt_occ_crp = self._stack_field(data_samples, 'gt_occ_crp')
        if gt_occ_crp is not None:
            gt_occ_crp = gt_occ_crp.long()
        cells = None
        if self.occ_head.uses_frustum_cells:
            cells = self.frustum_cells(outputs['lidar2img'], imgs.shape[-2:],
                                       outputs['lidar2img_host'])
        losses = self.occ_head.loss(outputs, gt_occ.long(), gt_occ_crp, cells)
        if self.depth_head is not None:
            gt_depth = self._stack_field(data_samples, 'gt_depth')
            if gt_depth is not None:
                losses.update(
                    self.depth_head.loss(outputs['depth_prob'], gt_depth))
        return losses

    def predict(self, inputs: Dict[str, Tensor],
                data_samples: Sequence) -> List:
        """Predict the voxel grid; fills ``pred_occ`` (X, Y, Z) long."""
        outputs = self.extract_feat(inputs['imgs'], data_samples)
        pred = outputs['ssc_logits'].argmax(dim=1)
        for sample, pred_occ in zip(data_samples, pred):
            sample.pred_occ = pred_occ
        return list(data_samples)

    def _forward(self, inputs: Dict[str, Tensor],
                 data_samples: Sequence) -> Tensor:
        """Network output without post-processing: the SSC logits."""
        return self.extract_feat(inputs['imgs'], data_samples)['ssc_logits']

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[Sequence] = None,
                mode: str = 'tensor') -> ForwardResults:
        """Dispatch to :meth:`loss`, :meth:`predict` or :meth:`_forward`."""
        if data_samples is None:
            raise ValueError('OccDepth needs data samples: they carry the '
                             'camera calibration')
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f'invalid mode {mode!r}: expected "loss", '
                         '"predict" or "tensor"')
