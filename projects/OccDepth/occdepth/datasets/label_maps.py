"""Class tables of the benchmarks: names, raw-id maps, frequencies, colours.

The one place of the class names, palettes and learning maps of
SemanticKITTI, NYUv2 and SemanticTartanAir.
"""
from typing import Dict, Tuple

import numpy as np

# yapf: disable
SEMANTICKITTI_CLASSES = (
    'empty', 'car', 'bicycle', 'motorcycle', 'truck', 'other-vehicle',
    'person', 'bicyclist', 'motorcyclist', 'road', 'parking', 'sidewalk',
    'other-ground', 'building', 'fence', 'vegetation', 'trunk', 'terrain',
    'pole', 'traffic-sign')

# learning_map of semantic-kitti.yaml: raw id -> training id. Raw ids mapped
# to 0 here other than raw 0 itself (unlabeled, outlier, other-structure,
# other-object) are ignored (255) by the SSC benchmark.
SEMANTICKITTI_LEARNING_MAP = {
    0: 0, 1: 0, 10: 1, 11: 2, 13: 5, 15: 3, 16: 5, 18: 4, 20: 5, 30: 6,
    31: 7, 32: 8, 40: 9, 44: 10, 48: 11, 49: 12, 50: 13, 51: 14, 52: 0,
    60: 9, 70: 15, 71: 16, 72: 17, 80: 18, 81: 19, 99: 0, 252: 1, 253: 7,
    254: 6, 255: 8, 256: 5, 257: 5, 258: 4, 259: 5
}

SEMANTICKITTI_LEARNING_MAP_INV = {
    0: 0, 1: 10, 2: 11, 3: 15, 4: 18, 5: 20, 6: 30, 7: 31, 8: 32, 9: 40,
    10: 44, 11: 48, 12: 49, 13: 50, 14: 51, 15: 70, 16: 71, 17: 72, 18: 80,
    19: 81
}

# Voxel counts per class over the training split (MonoScene / OccDepth).
SEMANTICKITTI_CLASS_FREQUENCIES = (
    5.41773033e09, 1.57835390e07, 1.25136e05, 1.18809e05, 6.46799e05,
    8.21951e05, 2.62978e05, 2.83696e05, 2.04750e05, 6.16887030e07,
    4.50296100e06, 4.48836500e07, 2.26992300e06, 5.68402180e07,
    1.57196520e07, 1.58442623e08, 2.06162300e06, 3.69705220e07,
    1.15198800e06, 3.34146000e05)

SEMANTICKITTI_PALETTE = (
    (0, 0, 0), (100, 150, 245), (100, 230, 245), (30, 60, 150),
    (80, 30, 180), (100, 80, 250), (255, 30, 30), (255, 40, 200),
    (150, 30, 90), (255, 0, 255), (255, 150, 255), (75, 0, 75),
    (175, 0, 75), (255, 200, 0), (255, 120, 50), (0, 175, 0),
    (135, 60, 0), (150, 240, 80), (255, 240, 150), (255, 0, 0))

# yapf: enable

IGNORE_INDEX = 255

# NYUv2 (11 classes + empty), the classes of SSCNet / MonoScene.
NYU_CLASSES = ('empty', 'ceiling', 'floor', 'wall', 'window', 'chair', 'bed',
               'sofa', 'table', 'tvs', 'furniture', 'objects')

NYU_PALETTE = (
    (0, 0, 0),  # empty (not drawn)
    (120, 200, 220),  # ceiling
    (150, 110, 70),  # floor
    (215, 205, 180),  # wall
    (90, 160, 255),  # window
    (240, 140, 30),  # chair
    (160, 80, 200),  # bed
    (220, 50, 60),  # sofa
    (60, 170, 70),  # table
    (30, 60, 140),  # tvs
    (180, 170, 40),  # furniture
    (250, 120, 180),  # objects
)

# SemanticTartanAir: the 14 classes of the reference.
TARTANAIR_CLASSES = ('empty', 'ceiling', 'floor', 'wall', 'window', 'chair',
                     'rug', 'sofa', 'screen', 'tvs', 'furn', 'clock', 'bonsai',
                     'objs')

TARTANAIR_PALETTE = (
    (0, 0, 0),  # empty
    (120, 200, 220),  # ceiling
    (150, 110, 70),  # floor
    (215, 205, 180),  # wall
    (90, 160, 255),  # window
    (240, 140, 30),  # chair
    (170, 40, 90),  # rug
    (220, 50, 60),  # sofa
    (40, 200, 200),  # screen
    (30, 60, 140),  # tvs
    (180, 170, 40),  # furn
    (250, 230, 60),  # clock
    (60, 170, 70),  # bonsai
    (250, 120, 180),  # objs
)

# Segmentation ids of TartanAir's office scene per class: the learning map of
# the label exporter (reference ``occdepth/data/tartanair/params.py``, its
# duplicates resolved as its lookup does: 231 -> window, 144 -> furn; ids not
# listed map to ``objs``).
TARTANAIR_OFFICE_SEG_IDS: Dict[str, Tuple[int, ...]] = {
    'ceiling': (22, 147),
    'floor': (139, ),
    'wall': (90, 133, 160, 172, 190, 193, 200, 208, 223, 224, 234, 239, 244),
    'window': (101, 146, 231),
    'chair': (211, ),
    'rug': (50, 207),
    'sofa': (120, 197),
    'screen': (125, 253),
    'tvs': (148, 158),
    'furn': (115, 144, 145, 152, 173, 185, 189, 205, 232),
    'clock': (28, ),
    'bonsai': (137, 249),
}


def semantickitti_remap_lut() -> np.ndarray:
    """Lookup table raw id -> training id, as the benchmark builds it.

    Every raw id that is absent from the learning map, or maps to 0 without
    being 0, becomes 255 (ignored). The table covers every uint16 value.
    """
    lut = np.full(65536, IGNORE_INDEX, dtype=np.uint8)
    for raw, train in SEMANTICKITTI_LEARNING_MAP.items():
        lut[raw] = train if train != 0 else IGNORE_INDEX
    lut[0] = 0
    return lut


def semantickitti_inverse_lut() -> np.ndarray:
    """Lookup table training id -> raw id (for submissions), uint16."""
    lut = np.zeros(len(SEMANTICKITTI_LEARNING_MAP_INV), dtype=np.uint16)
    for train, raw in SEMANTICKITTI_LEARNING_MAP_INV.items():
        lut[train] = raw
    return lut


def class_weights_from_frequencies(freq) -> np.ndarray:
    """Class weights ``1 / ln(f + 0.001)`` of MonoScene / OccDepth."""
    return 1.0 / np.log(np.asarray(freq, dtype=np.float64) + 0.001)


def _semantickitti_occupancy_frequencies() -> Tuple[float, float]:
    freq = SEMANTICKITTI_CLASS_FREQUENCIES
    return freq[0], float(np.sum(freq[1:]))


# Frequencies behind the named class-weight tables of the configs: the
# authors' ``class_weights`` and ``class_weights_occ`` (built in
# ``occdepth/scripts/train.py`` from the frequencies of
# ``occdepth/data/semantic_kitti/params.py``).
CLASS_WEIGHT_FREQUENCIES = {
    'semantickitti': SEMANTICKITTI_CLASS_FREQUENCIES,
    'semantickitti_occupancy': _semantickitti_occupancy_frequencies(),
}


def named_class_weights(name: str) -> np.ndarray:
    """Full-precision float64 class weights of a named frequency table.

    Configs name the table (``class_weight='semantickitti'``) instead of
    storing rounded weights, so the loss gets ``1 / ln(f + 0.001)`` at full
    precision, as the authors build it (a float64 tensor).

    Args:
        name: A key of :data:`CLASS_WEIGHT_FREQUENCIES`.

    Returns:
        float64 ``(C,)`` weights.
    """
    if name not in CLASS_WEIGHT_FREQUENCIES:
        raise ValueError(f'unknown class-weight table {name!r}; known: '
                         f'{sorted(CLASS_WEIGHT_FREQUENCIES)}')
    return class_weights_from_frequencies(CLASS_WEIGHT_FREQUENCIES[name])


# SSCBench-KITTI-360: the 19 classes (empty + 18) of ai4ce/SSCBench,
# method/MonoScene/monoscene/data/kitti_360/params.py
# (kitti_360_class_names).
KITTI360_CLASSES = ('empty', 'car', 'bicycle', 'motorcycle', 'truck',
                    'other-vehicle', 'person', 'road', 'parking', 'sidewalk',
                    'other-ground', 'building', 'fence', 'vegetation',
                    'terrain', 'pole', 'traffic-sign', 'other-structure',
                    'other-object')

# yapf: disable
# learning_map of ai4ce/SSCBench, dataset/configs/kitti360.yaml (identical to
# method/MonoScene/monoscene/data/kitti_360/kitti_360.yaml): raw id of the
# voxels/*.label files -> training id. Unlike SemanticKITTI, other-structure
# (52) and other-object (99) are classes here, while bicyclist (31),
# motorcyclist (32), trunk (71) and their moving versions map to 0 and are
# therefore ignored (255), as get_remap_lut of io_data.py builds it.
KITTI360_LEARNING_MAP = {
    0: 0, 1: 0, 10: 1, 11: 2, 13: 5, 15: 3, 16: 5, 18: 4, 20: 5, 30: 6,
    31: 0, 32: 0, 40: 7, 44: 8, 48: 9, 49: 10, 50: 11, 51: 12, 52: 17,
    60: 7, 70: 13, 71: 0, 72: 14, 80: 15, 81: 16, 99: 18, 252: 1, 253: 0,
    254: 6, 255: 0, 256: 5, 257: 5, 258: 4, 259: 5
}

# Voxel counts per class over the SSCBench-KITTI-360 training split
# (kitti_360_class_frequencies of params.py above).
KITTI360_CLASS_FREQUENCIES = (
    2264087502, 20098728, 104972, 96297, 1149426, 4051087, 125103,
    105540713, 16292249, 45297267, 14454132, 110397082, 6766219, 295883213,
    50037503, 1561069, 406330, 30516166, 1950115)

# RGB colours: color_map of kitti360.yaml (stored as BGR) at the raw id of
# each class in its learning_map_inv; empty is black (not drawn).
KITTI360_PALETTE = (
    (0, 0, 0), (100, 150, 245), (100, 230, 245), (30, 60, 150),
    (80, 30, 180), (0, 0, 255), (255, 30, 30), (255, 0, 255),
    (255, 150, 255), (75, 0, 75), (175, 0, 75), (255, 200, 0),
    (255, 120, 50), (0, 175, 0), (150, 240, 80), (255, 240, 150),
    (255, 0, 0), (255, 150, 0), (50, 255, 255))
# yapf: enable

CLASS_WEIGHT_FREQUENCIES['kitti360'] = KITTI360_CLASS_FREQUENCIES
CLASS_WEIGHT_FREQUENCIES['kitti360_occupancy'] = (
    KITTI360_CLASS_FREQUENCIES[0],
    float(np.sum(KITTI360_CLASS_FREQUENCIES[1:])))


def kitti360_remap_lut() -> np.ndarray:
    """Lookup table raw id -> training id of SSCBench-KITTI-360.

    As ``get_remap_lut`` of ai4ce/SSCBench,
    ``method/MonoScene/monoscene/data/kitti_360/io_data.py``: raw ids that
    map to 0 other than 0 itself, and ids absent from the learning map,
    become 255 (ignored). The table covers every uint16 value.
    """
    raw = np.array(list(KITTI360_LEARNING_MAP), dtype=np.int64)
    train = np.array(list(KITTI360_LEARNING_MAP.values()), dtype=np.uint8)
    lut = np.full(65536, IGNORE_INDEX, dtype=np.uint8)
    lut[raw[train > 0]] = train[train > 0]
    lut[0] = 0
    return lut
