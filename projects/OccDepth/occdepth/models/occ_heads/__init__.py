from projects.OccDepth.occdepth.models.occ_heads.blocks3d import (
    ASPP3D, Bottleneck3D, Downsample, Process, SegmentationHead,
    SegmentationHeadCascade, Upsample)
from projects.OccDepth.occdepth.models.occ_heads.context_prior import \
    CPMegaVoxels
from projects.OccDepth.occdepth.models.occ_heads.ssc_head import SSCHead

__all__ = [
    'ASPP3D', 'Bottleneck3D', 'CPMegaVoxels', 'Downsample', 'Process',
    'SegmentationHead', 'SegmentationHeadCascade', 'SSCHead', 'Upsample'
]
