from projects.OccDepth.occdepth.models.view_transformers.stereo_sfa import \
    StereoSFA
from projects.OccDepth.occdepth.models.view_transformers.virtual_stereo import \
    VirtualStereo  # noqa: E501

__all__ = ['StereoSFA', 'VirtualStereo']
