from .blocks3d import (ASPP3D, Bottleneck3D, Downsample, Process,
                       SegmentationHead, SegmentationHeadCascade, Upsample)
from .context_prior import CPMegaVoxels
from .ssc_head import SSCHead

__all__ = [
    'ASPP3D', 'Bottleneck3D', 'CPMegaVoxels', 'Downsample', 'Process',
    'SegmentationHead', 'SegmentationHeadCascade', 'SSCHead', 'Upsample'
]
