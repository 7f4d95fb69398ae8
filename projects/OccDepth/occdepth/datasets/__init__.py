from . import io, label_maps, nyu_io, synthetic_kitti, tartanair, voxel_labels
from .nyuv2 import NYUv2SSCDataset, create_nyu_cache, nyu_calibration
from .semantickitti import SemanticKittiSSCDataset, stereo_calibration
from .tartanair import TartanAirSSCDataset
from .transforms import (LoadNYUDepth, LoadNYULabels, LoadSSCLabels,
                         LoadStereoDepth, LoadStereoImages, LoadTartanAirDepth,
                         PackSSCInputs, RandomStereoFlip,
                         StereoPhotoMetricDistortion)
from .voxel_labels import (downsample_labels, labels_at_scales,
                           read_kitti_labels, remap_kitti_labels)

__all__ = [
    'io', 'label_maps', 'nyu_io', 'synthetic_kitti', 'tartanair',
    'voxel_labels', 'NYUv2SSCDataset', 'create_nyu_cache', 'nyu_calibration',
    'LoadNYULabels', 'LoadNYUDepth', 'LoadTartanAirDepth',
    'SemanticKittiSSCDataset', 'stereo_calibration', 'TartanAirSSCDataset',
    'LoadStereoImages', 'LoadSSCLabels', 'LoadStereoDepth',
    'StereoPhotoMetricDistortion', 'RandomStereoFlip', 'PackSSCInputs',
    'downsample_labels', 'labels_at_scales', 'read_kitti_labels',
    'remap_kitti_labels'
]
