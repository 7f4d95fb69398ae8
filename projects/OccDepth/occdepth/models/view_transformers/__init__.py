from .stereo_sfa import StereoSFA
from .virtual_stereo import VirtualStereo

__all__ = ['StereoSFA', 'VirtualStereo']
