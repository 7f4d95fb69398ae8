"""Export an OccDepth model to ONNX.

``python tools/export_onnx.py CONFIG --out model.onnx [--checkpoint CKPT]
[--allow-partial-load] [--shape H W] [--opset 20]``

The graph takes ``imgs`` ``(1, V, 3, H, W)`` float RGB in [0, 255],
``cam2img`` ``(1, V, 3, 3)`` and ``lidar2cam`` ``(1, V, 4, 4)`` float64 and
returns ``ssc_logits`` ``(1, num_classes, X, Y, Z)``. The image size is
``--shape`` or the config's ``crop_size``. When ``onnxruntime`` is installed
the file is run once on random images with a KITTI calibration and compared
with PyTorch. Needs ``pip install -r requirements/optional.txt``.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

# Make ``projects.OccDepth.occdepth`` importable when run as a script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import importlib.util  # noqa: E402

from mmdet3d.registry import MODELS  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import projects.OccDepth.occdepth  # noqa: E402,F401
from projects.OccDepth.occdepth.engine.checkpointing import (  # noqa: E402
    CheckpointError, cli_error, load_model_weights)
from projects.OccDepth.occdepth.engine.config_loading import (  # noqa: E402
    image_size, load_config)
from projects.OccDepth.occdepth.models.utils import \
    onnx_export as ox  # noqa: E402


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the OccDepth inference path to ONNX')
    parser.add_argument('config', help='model config file')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument(
        '--checkpoint', help='weights to export (random weights if omitted)')
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help='export even when the checkpoint does not fit the model: load '
        'the matching weights and log the mismatched keys (otherwise an '
        'error lists them)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image size (default: the config\'s crop_size)')
    parser.add_argument(
        '--opset',
        type=int,
        default=ox.MIN_OPSET,
        help=f'ONNX opset (>= {ox.MIN_OPSET}: volumetric GridSample)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    img_hw = image_size(cfg, args.shape)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        try:
            load_model_weights(
                model, args.checkpoint, strict=not args.allow_partial_load)
        except CheckpointError as exc:
            print(cli_error(exc), file=sys.stderr)
            return 1
    wrapper = ox.OccDepthExportWrapper(model)
    num_views = model.num_views
    inputs = ox.example_inputs(img_hw, num_views)
    try:
        ox.export_onnx(wrapper, inputs, args.out, args.opset)
    except ModuleNotFoundError as exc:
        print(f'Export failed: {exc}')
        return 1
    print(f'Wrote {args.out}: inputs imgs (1, {num_views}, 3, {img_hw[0]}, '
          f'{img_hw[1]}) float32 RGB 0-255, cam2img (1, {num_views}, 3, 3) '
          f'and lidar2cam (1, {num_views}, 4, 4) float64; output ssc_logits; '
          f'opset {args.opset}')
    if importlib.util.find_spec('onnxruntime') is None:
        print('onnxruntime is not installed: the file was not run')
    else:
        diff = ox.max_abs_difference(args.out, wrapper, inputs)
        print(f'ONNX Runtime vs PyTorch: max |difference| of the logits = '
              f'{diff:.3g}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
