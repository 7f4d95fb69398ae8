"""Semantic scene completion from one rectified stereo pair.

Examples::

    # KITTI odometry calibration (P2 = left, P3 = right, Tr = velo -> cam0)
    python demo/ssc_demo.py left.png right.png calib.txt \\
        configs/occdepth_demo.py work_dirs/demo/epoch_6.pth --device cpu

    # your own rectified stereo camera: pinhole intrinsics (pixels) of both
    # images and the baseline (metres)
    python demo/ssc_demo.py left.png right.png CONFIG CHECKPOINT \\
        --intrinsics 707.09 707.09 604.08 180.51 --baseline 0.54

The images go through the config's test pipeline (top-left crop to the
training size, no resize, so the intrinsics stay valid). Written to
``--out-dir``, named after the left image:

* ``NAME.npy``: uint8 ``(X, Y, Z)`` training ids (0 empty, 1 car, ...);
* ``NAME.label``: the same as uint16 raw SemanticKITTI ids (10 car, ...),
  the benchmark's format (SemanticKITTI models only);
* ``NAME.png``: the left image beside a render of the prediction, voxels
  outside the left camera's view dimmed, with its frustum.

With ``--intrinsics`` the voxel frame is KITTI's velodyne frame (x forward,
y left, z up) with the left camera at its origin, looking along +x, level:
``cam x = -y``, ``cam y = -z``, ``cam z = x``. The grid of the config (KITTI:
51.2 m ahead, 25.6 m to each side, from 2 m below to 4.4 m above the
camera) therefore expects a camera about 1.7 m above the ground, like the
KITTI car's. The right camera is the left one moved ``--baseline`` metres
to the right.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet3d.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from PIL import Image  # noqa: E402

import projects.OccDepth.occdepth  # noqa: E402,F401
from projects.OccDepth.occdepth.datasets.io import read_calib  # noqa: E402
from projects.OccDepth.occdepth.datasets.label_maps import (  # noqa: E402
    SEMANTICKITTI_CLASSES, SEMANTICKITTI_PALETTE)
from projects.OccDepth.occdepth.datasets.semantickitti import (  # noqa: E402
    CALIB_KEYS, stereo_calibration)
from projects.OccDepth.occdepth.engine.checkpointing import (  # noqa: E402
    CheckpointError, cli_error, load_model_weights)
from projects.OccDepth.occdepth.engine.visualization_hook import \
    SSCVisualizationHook  # noqa: E402
from projects.OccDepth.occdepth.evaluation.submission import \
    write_prediction_label  # noqa: E402

# KITTI velodyne -> camera axes: cam x = -velo y, cam y = -velo z,
# cam z = velo x.
VELO_TO_CAM_AXES = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0],
                             [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def check_intrinsics(k: np.ndarray, source: str) -> None:
    """Refuse a 3x3 matrix that is not a pinhole camera's intrinsics."""
    k = np.asarray(k, dtype=np.float64)
    if not np.isfinite(k).all():
        raise ValueError(f'{source}: the intrinsics hold non-finite values')
    if not np.allclose(k[2], (0.0, 0.0, 1.0)):
        raise ValueError(f'{source}: the last row of the intrinsics is '
                         f'{k[2].tolist()}, expected [0, 0, 1]')
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ValueError(f'{source}: focal lengths must be positive, got '
                         f'fx = {k[0, 0]:g}, fy = {k[1, 1]:g}')


def calibration_from_file(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """``cam2img`` (2, 3, 3) and ``lidar2cam`` (2, 4, 4) of a calib.txt."""
    calib = read_calib(path, required=CALIB_KEYS + ('Tr', ))
    for key in CALIB_KEYS:
        check_intrinsics(calib[key][:, :3], f'{path}: {key}')
    return stereo_calibration(calib)


def calibration_from_intrinsics(
        intrinsics: Sequence[float],
        baseline: float) -> Tuple[np.ndarray, np.ndarray]:
    """Calibration of a rectified rig with the left camera at the origin.

    Args:
        intrinsics: ``(fx, fy, cx, cy)`` in pixels, shared by both images.
        baseline: Distance in metres from the left to the right camera.

    Returns:
        ``cam2img`` (2, 3, 3) and ``lidar2cam`` (2, 4, 4) float64, with the
        KITTI velodyne axes as the voxel frame (see the module docstring).
    """
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    check_intrinsics(k, '--intrinsics')
    if not (np.isfinite(baseline) and baseline > 0):
        raise ValueError(f'--baseline must be a positive, finite distance '
                         f'in metres (left to right camera), got {baseline}')
    right = np.eye(4)
    right[0, 3] = -baseline
    lidar2cam = np.stack([VELO_TO_CAM_AXES, right @ VELO_TO_CAM_AXES])
    return np.stack([k, k]), lidar2cam


def check_calibration(cam2img: np.ndarray, lidar2cam: np.ndarray,
                      img_hw: Tuple[int, int], source: str) -> None:
    """Refuse a calibration that cannot belong to images of ``img_hw``."""
    h, w = img_hw
    for view, k in zip(('left', 'right'), cam2img):
        cx, cy = k[0, 2], k[1, 2]
        if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
            raise ValueError(
                f'{source}: the {view} principal point (cx, cy) = '
                f'({cx:g}, {cy:g}) lies outside the {w} x {h} (W x H) input '
                f'image (after the config\'s top-left crop); the '
                f'calibration does not fit these images')
    centres = [np.linalg.inv(t)[:3, 3] for t in lidar2cam]
    if np.linalg.norm(centres[1] - centres[0]) <= 0:
        raise ValueError(f'{source}: the left and right cameras are at the '
                         f'same place (zero stereo baseline)')


def _test_pipeline(cfg: Config) -> list:
    pipeline = cfg.test_dataloader.dataset.pipeline
    if not any(t.get('type') == 'LoadStereoImages' for t in pipeline):
        raise ValueError('the config\'s test pipeline has no '
                         'LoadStereoImages; the demo needs a stereo model')
    return pipeline


def _dataset_meta(cfg: Config) -> dict:
    """Classes and palette of the config's test dataset class."""
    dataset_cls = DATASETS.get(cfg.test_dataloader.dataset.type)
    meta = getattr(dataset_cls, 'METAINFO', {})
    return dict(
        classes=tuple(meta.get('classes', SEMANTICKITTI_CLASSES)),
        palette=meta.get('palette', SEMANTICKITTI_PALETTE))


def run_demo(left: str,
             right: str,
             config: str,
             checkpoint: str,
             calib: Optional[str] = None,
             intrinsics: Optional[Sequence[float]] = None,
             baseline: Optional[float] = None,
             out_dir: str = 'outputs',
             device: str = 'cpu',
             allow_partial_load: bool = False) -> Dict[str, str]:
    """Predict the voxel grid of one stereo pair and write the outputs.

    Give either ``calib`` (a KITTI ``calib.txt``) or ``intrinsics`` and
    ``baseline``. The checkpoint must fit the model exactly unless
    ``allow_partial_load`` (then only its matching weights are loaded).

    Returns:
        Paths of the written files by kind (``npy``, ``label`` when the
        model predicts SemanticKITTI classes, ``png``).
    """
    for path in (left, right, config, checkpoint, calib):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{path}: file not found')
    if (calib is None) == (intrinsics is None):
        raise ValueError('give either a calib.txt or --intrinsics with '
                         '--baseline')
    if calib is not None:
        cam2img, lidar2cam = calibration_from_file(calib)
        source = calib
    else:
        cam2img, lidar2cam = calibration_from_intrinsics(intrinsics, baseline)
        source = '--intrinsics'

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    stem = osp.splitext(osp.basename(left))[0]
    packed = Compose(_test_pipeline(cfg))(
        dict(
            img_paths=[left, right],
            cam2img=cam2img,
            lidar2cam=lidar2cam,
            label_path=None,
            grid_size=tuple(cfg.model.grid_size),
            voxel_size=float(cfg.model.voxel_size),
            voxel_origin=tuple(cfg.model.voxel_origin),
            sequence='demo',
            frame_id=stem))
    sample = packed['data_samples']
    check_calibration(cam2img, lidar2cam, sample.metainfo['img_shape'], source)

    model = MODELS.build(cfg.model)
    load_model_weights(model, checkpoint, strict=not allow_partial_load)
    model.to(device).eval()
    with torch.no_grad():
        result = model.test_step(pseudo_collate([packed]))[0]
    pred = result.pred_occ.cpu().numpy().astype(np.uint8)

    os.makedirs(out_dir, exist_ok=True)
    meta = _dataset_meta(cfg)
    outputs = dict(npy=osp.join(out_dir, f'{stem}.npy'))
    np.save(outputs['npy'], pred)
    if meta['classes'] == tuple(SEMANTICKITTI_CLASSES):
        outputs['label'] = osp.join(out_dir, f'{stem}.label')
        write_prediction_label(outputs['label'], pred, grid_size=None)

    image = packed['inputs']['imgs'][0].permute(1, 2, 0).numpy()
    picture = SSCVisualizationHook(out_dir).render(result.metainfo, pred, None,
                                                   image, meta['palette'])
    # render() lays out three equal panels: image, prediction and ground
    # truth; without ground truth keep the first two.
    picture = picture[:, :picture.shape[1] * 2 // 3]
    outputs['png'] = osp.join(out_dir, f'{stem}.png')
    Image.fromarray(picture).save(outputs['png'])
    return outputs


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Semantic scene completion of one stereo pair',
        usage='%(prog)s LEFT RIGHT [CALIB] CONFIG CHECKPOINT [--intrinsics '
        'FX FY CX CY --baseline B] [--out-dir DIR] [--device DEVICE] '
        '[--allow-partial-load]')
    parser.add_argument(
        'paths',
        nargs='+',
        metavar='PATH',
        help='LEFT RIGHT CALIB CONFIG CHECKPOINT, or LEFT RIGHT CONFIG '
        'CHECKPOINT with --intrinsics and --baseline; CALIB is a KITTI '
        'calib.txt with P2 (left), P3 (right) and Tr (voxel frame -> '
        'camera 0)')
    parser.add_argument(
        '--intrinsics',
        type=float,
        nargs=4,
        metavar=('FX', 'FY', 'CX', 'CY'),
        help='pinhole intrinsics of both rectified images, in pixels')
    parser.add_argument(
        '--baseline',
        type=float,
        help='stereo baseline in metres (with --intrinsics)')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument(
        '--device',
        default='cuda:0' if torch.cuda.is_available() else 'cpu',
        help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help='run even when the checkpoint does not fit the model: load the '
        'matching weights and log the mismatched keys (otherwise an error '
        'lists them)')
    args = parser.parse_args(argv)
    if args.intrinsics is None:
        if args.baseline is not None:
            parser.error('--baseline needs --intrinsics')
        if len(args.paths) != 5:
            parser.error('expected LEFT RIGHT CALIB CONFIG CHECKPOINT')
    else:
        if args.baseline is None:
            parser.error('--intrinsics needs --baseline')
        if len(args.paths) != 4:
            parser.error('with --intrinsics, expected LEFT RIGHT CONFIG '
                         'CHECKPOINT (no CALIB)')
    return args


def main(argv=None) -> Dict[str, str]:
    args = parse_args(argv)
    calib = args.paths[2] if args.intrinsics is None else None
    left, right = args.paths[:2]
    config, checkpoint = args.paths[-2:]
    outputs = run_demo(
        left,
        right,
        config,
        checkpoint,
        calib=calib,
        intrinsics=args.intrinsics,
        baseline=args.baseline,
        out_dir=args.out_dir,
        device=args.device,
        allow_partial_load=args.allow_partial_load)
    for kind, path in outputs.items():
        print(f'{kind}: {path}')
    return outputs


if __name__ == '__main__':
    try:
        main()
    except CheckpointError as exc:
        sys.exit(cli_error(exc))
    except (FileNotFoundError, ValueError) as exc:
        sys.exit(f'error: {exc}')
