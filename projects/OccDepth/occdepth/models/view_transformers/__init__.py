from .stereo_sfa import StereoSFA

__all__ = ['StereoSFA']
