from projects.OccDepth.occdepth.datasets import (io, kitti_calibration,
                                                 label_maps, nyu_io, tartanair,
                                                 voxel_labels)
from projects.OccDepth.occdepth.datasets.kitti360 import (Kitti360SSCDataset,
                                                          LoadKitti360Labels,
                                                          read_kitti360_labels)
from projects.OccDepth.occdepth.datasets.kitti360_calibration import \
    kitti360_stereo_calibration
from projects.OccDepth.occdepth.datasets.nyuv2 import (NYUv2SSCDataset,
                                                       create_nyu_cache,
                                                       nyu_calibration)
from projects.OccDepth.occdepth.datasets.seeding import (SeededDatasetMixin,
                                                         SeededIndex,
                                                         SeededSampler)
from projects.OccDepth.occdepth.datasets.semantickitti import (
    SemanticKittiSSCDataset, stereo_calibration)
from projects.OccDepth.occdepth.datasets.tartanair import TartanAirSSCDataset
from projects.OccDepth.occdepth.datasets.transforms import (
    LoadNYUDepth, LoadNYULabels, LoadSSCLabels, LoadStereoDepth,
    LoadStereoImages, LoadTartanAirDepth, PackSSCInputs, RandomStereoFlip,
    StereoPhotoMetricDistortion)
from projects.OccDepth.occdepth.datasets.voxel_labels import (
    downsample_labels, labels_at_scales, read_kitti_labels, remap_kitti_labels)

__all__ = [
    'io', 'kitti_calibration', 'label_maps', 'nyu_io', 'tartanair',
    'voxel_labels', 'Kitti360SSCDataset', 'LoadKitti360Labels',
    'kitti360_stereo_calibration', 'read_kitti360_labels', 'NYUv2SSCDataset',
    'create_nyu_cache', 'nyu_calibration', 'LoadNYULabels', 'LoadNYUDepth',
    'LoadTartanAirDepth', 'SemanticKittiSSCDataset', 'stereo_calibration',
    'SeededDatasetMixin', 'SeededIndex', 'SeededSampler',
    'TartanAirSSCDataset', 'LoadStereoImages', 'LoadSSCLabels',
    'LoadStereoDepth', 'StereoPhotoMetricDistortion', 'RandomStereoFlip',
    'PackSSCInputs', 'downsample_labels', 'labels_at_scales',
    'read_kitti_labels', 'remap_kitti_labels'
]
