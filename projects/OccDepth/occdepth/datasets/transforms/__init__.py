from .augmentation import RandomStereoFlip, StereoPhotoMetricDistortion
from .formatting import PackSSCInputs
from .loading import LoadSSCLabels, LoadStereoDepth, LoadStereoImages

__all__ = [
    'LoadStereoImages', 'LoadSSCLabels', 'LoadStereoDepth',
    'StereoPhotoMetricDistortion', 'RandomStereoFlip', 'PackSSCInputs'
]
