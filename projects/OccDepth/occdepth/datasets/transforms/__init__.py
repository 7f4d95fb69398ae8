from .augmentation import RandomStereoFlip, StereoPhotoMetricDistortion
from .formatting import PackSSCInputs
from .loading import LoadSSCLabels, LoadStereoDepth, LoadStereoImages
from .nyu_loading import LoadNYUDepth, LoadNYULabels
from .tartanair_loading import LoadTartanAirDepth

__all__ = [
    'LoadStereoImages', 'LoadSSCLabels', 'LoadStereoDepth',
    'StereoPhotoMetricDistortion', 'RandomStereoFlip', 'PackSSCInputs',
    'LoadTartanAirDepth', 'LoadNYULabels', 'LoadNYUDepth'
]
