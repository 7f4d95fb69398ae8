from projects.OccDepth.occdepth.datasets.transforms.augmentation import (
    RandomStereoFlip, StereoPhotoMetricDistortion)
from projects.OccDepth.occdepth.datasets.transforms.formatting import \
    PackSSCInputs
from projects.OccDepth.occdepth.datasets.transforms.loading import (
    LoadSSCLabels, LoadStereoDepth, LoadStereoImages)
from projects.OccDepth.occdepth.datasets.transforms.nyu_loading import (
    LoadNYUDepth, LoadNYULabels)
from projects.OccDepth.occdepth.datasets.transforms.tartanair_loading import \
    LoadTartanAirDepth

__all__ = [
    'LoadStereoImages', 'LoadSSCLabels', 'LoadStereoDepth',
    'StereoPhotoMetricDistortion', 'RandomStereoFlip', 'PackSSCInputs',
    'LoadTartanAirDepth', 'LoadNYULabels', 'LoadNYUDepth'
]
