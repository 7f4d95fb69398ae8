"""The KITTI odometry stereo rig, built from its published numbers.

The one place of the KITTI calibration used where no ``calib.txt`` is at
hand: the synthetic SemanticKITTI generator
(``tools/dataset_converters/synthetic_kitti.py``), the example inputs of the
ONNX export and of ``tools/analysis_tools/get_flops.py``, and the synthetic
batches of ``tools/analysis_tools/benchmark.py``.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from projects.OccDepth.occdepth.datasets.semantickitti import \
    stereo_calibration

KITTI_IMAGE_SIZE = (370, 1220)
STEREO_BASELINE = 0.54
# Camera 2 sits 6 cm beside camera 0 (the small offset in KITTI's P2); the
# grey-scale pair P0/P1 has KITTI's 0.537 m baseline.
CAM2_OFFSET = 0.06
GREY_BASELINE = 0.537
# Intrinsics (fx = fy, cx, cy) of the colour cameras of the KITTI odometry
# sequences at the 370 x 1220 crop: 00-02 and 13-21, 03, and 04-12.
_KITTI_INTRINSICS = {
    'a': (718.856, 607.1928, 185.2157),
    'b': (721.5377, 609.5593, 172.854),
    'c': (707.0912, 601.8873, 183.1104),
}
# The sequence whose rig serves as the example calibration (the validation
# sequence of SemanticKITTI).
EXAMPLE_SEQUENCE = '08'


def sequence_number(sequence: str) -> int:
    """The integer of a two-digit sequence name, with a clear error."""
    if not str(sequence).isdigit():
        raise ValueError(f'sequence names must be numbers like "00", got '
                         f'{sequence!r}')
    return int(sequence)


def kitti_calib(
        sequence: str,
        image_size: Sequence[int] = KITTI_IMAGE_SIZE) -> Dict[str, np.ndarray]:
    """A KITTI odometry calibration for images of ``image_size``.

    The intrinsics are those of the real sequence group, scaled from the
    370 x 1220 crop to ``image_size`` (pixel centres kept). The four cameras
    are rectified: they differ only by an x offset (the 4th column of P).
    ``Tr`` maps the velodyne frame to camera 0 with KITTI's axis swap (cam x
    = -velo y, cam y = -velo z, cam z = velo x), a small rotation and the
    usual translation.

    Returns:
        Mapping ``P0..P3, Tr`` to float64 ``(3, 4)`` matrices, the content
        of a ``calib.txt``.
    """
    num = sequence_number(sequence)
    group = 'b' if num == 3 else 'c' if 4 <= num <= 12 else 'a'
    f, cx, cy = _KITTI_INTRINSICS[group]
    height, width = image_size
    sx = width / KITTI_IMAGE_SIZE[1]
    sy = height / KITTI_IMAGE_SIZE[0]
    k = np.array([[f * sx, 0.0, (cx + 0.5) * sx - 0.5],
                  [0.0, f * sy, (cy + 0.5) * sy - 0.5], [0.0, 0.0, 1.0]])
    offsets = dict(P0=0.0, P1=-GREY_BASELINE, P2=CAM2_OFFSET)
    offsets['P3'] = CAM2_OFFSET - STEREO_BASELINE
    calib = {}
    for key, offset in offsets.items():
        calib[key] = np.zeros((3, 4))
        calib[key][:, :3] = k
        calib[key][0, 3] = f * sx * offset
    swap = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    calib['Tr'] = np.zeros((3, 4))
    calib['Tr'][:, :3] = _small_rotation(0.004, -0.007, 0.0005) @ swap
    calib['Tr'][:, 3] = (-0.012, -0.054, -0.292)
    return calib


def _small_rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation ``Rz @ Ry @ Rx`` of small angles in radians."""
    cx, sx, cy, sy = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry)
    cz, sz = np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def kitti_example_calibration(
        img_hw: Sequence[int],
        num_views: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """The KITTI stereo rig (sequence 08) scaled to ``img_hw``.

    Args:
        img_hw: ``(H, W)`` of the images.
        num_views: 2 for the stereo pair, 1 for the left camera only.

    Returns:
        tuple: ``cam2img`` ``(V, 3, 3)`` and ``lidar2cam`` ``(V, 4, 4)``
        float64, view 0 = left camera.
    """
    if num_views not in (1, 2):
        raise ValueError(f'kitti_example_calibration: KITTI has 1 or 2 '
                         f'colour views, got num_views={num_views}')
    cam2img, lidar2cam = stereo_calibration(
        kitti_calib(EXAMPLE_SEQUENCE, image_size=tuple(img_hw)))
    return cam2img[:num_views], lidar2cam[:num_views]
