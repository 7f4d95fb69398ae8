"""3D UNet, context prior and (decoupled) SSC head with its losses."""
import math
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from projects.OccDepth.occdepth.models.occ_heads.blocks3d import (
    Downsample, Process, SegmentationHead, SegmentationHeadCascade, Upsample)
from projects.OccDepth.occdepth.models.occ_heads.context_prior import \
    CPMegaVoxels
from projects.OccDepth.occdepth.models.ops.grad_recording import \
    records_fp32_graph
from projects.OccDepth.occdepth.models.utils.activation_checkpoint import \
    checkpoint_module
from projects.OccDepth.occdepth.models.utils.memory_format import (
    ChannelsLast, check_channels_last, use_channels_last)

LOSS_NAMES = ('loss_ce', 'loss_sem_scal', 'loss_geo_scal', 'loss_frustum',
              'loss_relation', 'loss_occ')
VARIANTS = ('kitti', 'nyu')


@MODELS.register_module()
class SSCHead(BaseModule):
    """OccDepth 3D network: UNet3D with CRP and the SSC head.

    ``l1`` is the input volume ``(B, F, X, Y, Z)``::

        process_l1: Process(F, [1,2,3]) -> Downsample     -> l2 (2F, /2)
        process_l2: Process(2F, [1,2,3]) -> Downsample    -> l3 (4F, /4)
        CP_mega_voxels (context_prior)                    -> l3 (4F, /4)
        up_13_l2: Upsample(4F -> 2F) + l2
        up_12_l1: Upsample(2F -> F) + l1
        up_l1_lfull ('kitti' only): Upsample(F -> F/2) for project_scale 2,
            a stride-1 transposed conv block for project_scale 1
        ssc_head: SegmentationHead[Cascade](in, in, num_classes, [1,2,3])

    The ``'nyu'`` variant has no ``up_l1_lfull`` and predicts at the input
    resolution from ``F`` channels. Sub-module names are those of the
    reference KITTI network; the reference NYU names map as
    ``process_1_4 -> process_l1``, ``process_1_8 -> process_l2``,
    ``up_1_16_1_8 -> up_13_l2``, ``up_1_8_1_4 -> up_12_l1`` and
    ``ssc_head_1_4 -> ssc_head``.

    Args:
        in_channels: Channels ``F`` of the input volume (a multiple of 4).
        num_classes: Semantic classes, 0 being empty.
        variant: ``'kitti'`` or ``'nyu'``.
        grid_size: Spatial size ``(X, Y, Z)`` of the input volume; needed by
            the context prior, which is built for ``ceil(size / 4)``.
        project_scale: Output / input resolution ratio of the ``'kitti'``
            variant (2 or 1); ``'nyu'`` requires 1.
        context_prior: Build the CRP and return ``relation_logits``.
        n_relations: CRP relations (4, or 2 for the binary variant).
        decoupled: Use the decoupled occupancy -> semantics head and return
            ``occ_logits``; otherwise a plain segmentation head.
        loss_ce: Semantic cross-entropy on ``ssc_logits``
            (``SSCCrossEntropyLoss``, its ``class_weight`` one per class).
        loss_sem_scal: Semantic scene-class affinity loss (``SemScalLoss``).
        loss_geo_scal: Geometric scene-class affinity loss (``GeoScalLoss``).
        loss_frustum: Frustum proportion loss (``FrustumProportionLoss``);
            its ``frustum_size`` sets the image cells of the frustums.
        loss_relation: CRP relation loss (``ContextRelationLoss``); needs
            ``context_prior``.
        loss_occ: Empty / occupied cross-entropy on ``occ_logits``
            (``OccupancyLoss``, two class weights); needs ``decoupled``.
            Each loss is a config of a registered loss module with its
            ``loss_weight``, or ``None`` (the default): not computed. A loss
            that cannot run with this head is an error.
        bn_momentum: Momentum of the UNet's BatchNorm3d layers.
        with_cp: Gradient checkpointing of the UNet stages and the head
            (saves memory, costs a second forward of each stage; BatchNorm
            running statistics are updated once, as without it).
        channels_last: Run the output-resolution stages (``up_l1_lfull``
            and ``ssc_head``) on ``channels_last_3d`` tensors, where the CPU
            (oneDNN) convolutions are about 1.5x faster; their BatchNorm
            layers still normalise in the standard layout
            (:class:`LayoutPreservingBatchNorm3d`), so the numbers are those
            of the contiguous network. Their convolution weights are stored
            channels-last as well (the state dict keys and values are
            unchanged). The outputs are contiguous. ``'auto'``: per device
            (on for CPU tensors, off on CUDA; weights stay contiguous),
            see models/utils/memory_format.py.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 variant: str = 'kitti',
                 grid_size: Optional[Sequence[int]] = None,
                 project_scale: int = 2,
                 context_prior: bool = True,
                 n_relations: int = 4,
                 decoupled: bool = True,
                 loss_ce: Optional[dict] = None,
                 loss_sem_scal: Optional[dict] = None,
                 loss_geo_scal: Optional[dict] = None,
                 loss_frustum: Optional[dict] = None,
                 loss_relation: Optional[dict] = None,
                 loss_occ: Optional[dict] = None,
                 bn_momentum: float = 0.1,
                 with_cp: bool = False,
                 channels_last: ChannelsLast = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if variant not in VARIANTS:
            raise ValueError(
                f'SSCHead: variant must be one of {VARIANTS}, got {variant!r}')
        if in_channels % 4:
            raise ValueError('SSCHead: in_channels must be a multiple of 4, '
                             f'got {in_channels}')
        if variant == 'kitti' and project_scale not in (1, 2):
            raise ValueError('SSCHead: project_scale must be 1 or 2, got '
                             f'{project_scale}')
        if variant == 'nyu' and project_scale != 1:
            raise ValueError('SSCHead: the nyu variant predicts at the input '
                             f'resolution, project_scale must be 1, got '
                             f'{project_scale}')
        if loss_occ is not None and not decoupled:
            raise ValueError('SSCHead: loss_occ is configured but the plain '
                             'head (decoupled=False) predicts no occupancy; '
                             'set loss_occ=None')
        if loss_relation is not None and not context_prior:
            raise ValueError('SSCHead: loss_relation is configured but the '
                             'head has no context prior (context_prior='
                             'False); set loss_relation=None')
        self.variant = variant
        self.num_classes = num_classes
        self.context_prior = context_prior
        self.n_relations = n_relations
        self.decoupled = decoupled
        self.with_cp = with_cp
        self.channels_last = check_channels_last(channels_last, 'SSCHead')

        feat = in_channels
        self.process_l1 = nn.Sequential(
            Process(feat, (1, 2, 3), bn_momentum),
            Downsample(feat, bn_momentum))
        self.process_l2 = nn.Sequential(
            Process(feat * 2, (1, 2, 3), bn_momentum),
            Downsample(feat * 2, bn_momentum))
        self.up_13_l2 = Upsample(feat * 4, feat * 2, 2, bn_momentum)
        self.up_12_l1 = Upsample(feat * 2, feat, 2, bn_momentum)
        if variant == 'kitti':
            self.up_l1_lfull = Upsample(feat, feat // 2, project_scale,
                                        bn_momentum)
            head_channels = feat // 2
        else:
            head_channels = feat
        head = SegmentationHeadCascade if decoupled else SegmentationHead
        self.ssc_head = head(head_channels, head_channels, num_classes,
                             (1, 2, 3))
        if channels_last is True:
            for module in self._output_resolution_stages():
                module.to(memory_format=torch.channels_last_3d)
        if context_prior:
            if grid_size is None or len(grid_size) != 3:
                raise ValueError('SSCHead: context_prior needs the input '
                                 f'grid_size (X, Y, Z), got {grid_size}')
            crp_size = [math.ceil(s / 4) for s in grid_size]
            self.CP_mega_voxels = CPMegaVoxels(
                feat * 4, crp_size, n_relations, bn_momentum=bn_momentum)
        self._build_losses(
            dict(
                loss_ce=loss_ce,
                loss_sem_scal=loss_sem_scal,
                loss_geo_scal=loss_geo_scal,
                loss_frustum=loss_frustum,
                loss_relation=loss_relation,
                loss_occ=loss_occ))

    def _build_losses(self, cfgs: Dict[str, Optional[dict]]) -> None:
        """Build every configured loss as the attribute of its name."""
        for name, cfg in cfgs.items():
            setattr(self, name, MODELS.build(cfg) if cfg is not None else None)
        for name, num in (('loss_ce', self.num_classes), ('loss_occ', 2)):
            weight = getattr(getattr(self, name), 'class_weight', None)
            if weight is not None and weight.shape != (num, ):
                raise ValueError(f'SSCHead: {name} has class_weight of shape '
                                 f'{tuple(weight.shape)}, expected {num} '
                                 'class weights')

    def _output_resolution_stages(self) -> List[nn.Module]:
        if self.variant == 'kitti':
            return [self.up_l1_lfull, self.ssc_head]
        return [self.ssc_head]

    def _run(self, module: nn.Module, x: Tensor) -> Any:
        if self.with_cp and self.training and torch.is_grad_enabled():
            return checkpoint_module(module, x)
        return module(x)

    def forward(self, x3d: Tensor) -> Dict[str, Tensor]:
        """Predict the scene.

        Args:
            x3d: ``(B, F, X, Y, Z)`` voxel features.

        Returns:
            dict with ``ssc_logits`` ``(B, num_classes, X', Y', Z')``,
            ``occ_logits`` ``(B, 2, X', Y', Z')`` when decoupled and
            ``relation_logits`` ``(B, R, M, N)`` with the context prior.
        """
        outputs = {}
        x_l1 = x3d
        x_l2 = self._run(self.process_l1, x_l1)
        x_l3 = self._run(self.process_l2, x_l2)
        if self.context_prior:
            x_l3, outputs['relation_logits'] = self._run(
                self.CP_mega_voxels, x_l3)
        x = self._run(self.up_13_l2, x_l3) + x_l2
        x = self._run(self.up_12_l1, x) + x_l1
        # ONNX has no memory formats: a traced graph keeps the layout as is
        if (use_channels_last(self.channels_last, x, 3)
                and not torch.jit.is_tracing()):
            x = x.contiguous(memory_format=torch.channels_last_3d)
        head = self._output_resolution(x)
        if self.decoupled:
            outputs['ssc_logits'], outputs['occ_logits'] = head
        else:
            outputs['ssc_logits'] = head
        return {name: out.contiguous() for name, out in outputs.items()}

    def _output_resolution(self, x: Tensor) -> Any:
        """``up_l1_lfull`` (kitti) and ``ssc_head``: the head's outputs.

        While gradients are recorded (in fp32, outside autocast, without
        ``with_cp``), ``up_l1_lfull``'s BN -> ReLU and the head's ``conv0``
        run as :meth:`Upsample.forward_into`: the backward pass recomputes
        BN -> ReLU from the transposed convolution's output instead of
        keeping the BN input and the ReLU output (the same numbers; one
        output-resolution tensor less, 128 MiB at 256x256x32 with 16
        channels).
        """
        if self.variant != 'kitti':
            return self._run(self.ssc_head, x)
        if self.with_cp or not records_fp32_graph(x):
            return self._run(self.ssc_head, self._run(self.up_l1_lfull, x))
        return self.ssc_head(x, self.up_l1_lfull)

    @property
    def uses_frustum_cells(self) -> bool:
        """Whether :meth:`loss` computes the frustum proportion loss."""
        return self.loss_frustum is not None

    @property
    def frustum_size(self) -> Optional[int]:
        """Image cells per side of the frustum loss (``None``: no loss)."""
        if self.loss_frustum is None:
            return None
        return self.loss_frustum.frustum_size

    @property
    def uses_relation_targets(self) -> bool:
        """Whether :meth:`loss` needs the 1:8 labels (relation loss)."""
        return self.loss_relation is not None

    def loss(self,
             outputs: Dict[str, Tensor],
             gt_occ: Tensor,
             gt_occ_crp: Optional[Tensor] = None,
             frustum_cells: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Weighted SSC losses.

        Args:
            outputs: The dict returned by :meth:`forward`.
            gt_occ: ``(B, X', Y', Z')`` labels at the output resolution,
                255 = ignored.
            gt_occ_crp: ``(B, x, y, z)`` labels at the CRP resolution;
                required when the relation loss is configured.
            frustum_cells: ``(B, V, X'*Y'*Z')`` image cell of every output
                voxel per view, -1 outside; required when the frustum
                proportion loss is configured.

        Returns:
            dict of weighted losses among ``loss_ce``, ``loss_sem_scal``,
            ``loss_geo_scal``, ``loss_frustum``, ``loss_relation`` and
            ``loss_occ``.
        """
        # Losses in fp32 also under autocast (CPU autocast keeps softmax and
        # its sums in bf16 / fp16, which the scal losses cannot afford).
        outputs = {name: out.float() for name, out in outputs.items()}
        logits = outputs['ssc_logits']
        if tuple(gt_occ.shape) != (logits.shape[:1] + logits.shape[2:]):
            raise ValueError(f'SSCHead.loss: gt_occ of shape '
                             f'{tuple(gt_occ.shape)} for ssc_logits of shape '
                             f'{tuple(logits.shape)}')
        if self.uses_frustum_cells and frustum_cells is None:
            raise ValueError('SSCHead.loss: the frustum proportion loss is '
                             'configured but no frustum_cells were given')
        if self.uses_relation_targets and gt_occ_crp is None:
            raise ValueError('SSCHead.loss: the relation loss is configured '
                             'but the samples carry no gt_occ_crp (add the '
                             'labels at the CRP resolution to the pipeline)')
        target = gt_occ.long()
        losses = {}
        if self.loss_ce is not None:
            losses['loss_ce'] = self.loss_ce(logits, target)
        # one softmax shared by the losses that read probabilities
        prob_losses = (self.loss_sem_scal, self.loss_geo_scal,
                       self.loss_frustum)
        if any(loss is not None for loss in prob_losses):
            prob = logits.softmax(dim=1)
        if self.loss_sem_scal is not None:
            losses['loss_sem_scal'] = self.loss_sem_scal(prob, target)
        if self.loss_geo_scal is not None:
            losses['loss_geo_scal'] = self.loss_geo_scal(prob, target)
        if self.loss_frustum is not None:
            losses['loss_frustum'] = self.loss_frustum(prob, target,
                                                       frustum_cells)
        if self.loss_relation is not None:
            losses['loss_relation'] = self.loss_relation(
                outputs['relation_logits'], gt_occ_crp)
        if self.loss_occ is not None:
            losses['loss_occ'] = self.loss_occ(outputs['occ_logits'], target)
        return losses
