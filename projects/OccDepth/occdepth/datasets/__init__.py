from . import io, label_maps, synthetic_kitti, tartanair, voxel_labels
from .semantickitti import SemanticKittiSSCDataset, stereo_calibration
from .tartanair import TartanAirSSCDataset
from .transforms import (LoadSSCLabels, LoadStereoDepth, LoadStereoImages,
                         PackSSCInputs, RandomStereoFlip,
                         StereoPhotoMetricDistortion)
from .voxel_labels import (downsample_labels, labels_at_scales,
                           read_kitti_labels, remap_kitti_labels)

__all__ = [
    'io', 'label_maps', 'synthetic_kitti', 'tartanair', 'voxel_labels',
    'SemanticKittiSSCDataset', 'stereo_calibration', 'TartanAirSSCDataset',
    'LoadStereoImages', 'LoadSSCLabels', 'LoadStereoDepth',
    'StereoPhotoMetricDistortion', 'RandomStereoFlip', 'PackSSCInputs',
    'downsample_labels', 'labels_at_scales', 'read_kitti_labels',
    'remap_kitti_labels'
]
