"""Parameters and FLOPs of an OccDepth model, per part.

``python tools/analysis_tools/get_flops.py CONFIG [--shape H W]
[--cfg-options ...]``

Runs one inference forward (batch 1, random images, the KITTI stereo
calibration scaled to the image size) under
``torch.utils.flop_counter.FlopCounterMode``. FLOPs count 2 per
multiply-add of convolutions and matrix products; element-wise operations,
normalisation, interpolation, gathers and ``grid_sample`` are not counted.
thop and fvcore report multiply-adds, i.e. half of these numbers. The 2D
backbone runs once per view; its FLOPs include every view.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, NamedTuple, Optional, Sequence

# Make ``projects.OccDepth.occdepth`` importable when run as a script.
sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet3d.registry import MODELS  # noqa: E402
from mmdet3d.structures import Det3DDataSample  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import projects.OccDepth.occdepth  # noqa: E402,F401
from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    kitti_example_calibration  # noqa: E402
from projects.OccDepth.occdepth.engine.config_loading import (  # noqa: E402
    image_size, load_config)


class Part(NamedTuple):
    """Parameters and forward FLOPs of one part of the model."""
    name: str
    params: int
    flops: int


def model_parts(model: nn.Module) -> Dict[str, str]:
    """Module path -> display name of each part the model has."""
    parts = {
        'backbone': '2D backbone (EfficientNet UNet)',
        'view_transformer': 'view transformer (Stereo-SFA)',
    }
    if getattr(model, 'depth_head', None) is not None:
        parts['depth_head'] = 'depth head (OAD)'
    if getattr(model, 'virtual_stereo', None) is not None:
        parts['virtual_stereo'] = 'virtual stereo'
    parts['occ_head'] = '3D UNet + CRP'
    parts['occ_head.ssc_head'] = 'SSC head'
    return parts


def _owner(name: str, paths: Sequence[str]) -> str:
    """The longest part path that is a prefix of module/param ``name``."""
    best = ''
    for path in paths:
        if (name == path
                or name.startswith(path + '.')) and len(path) > len(best):
            best = path
    return best


def example_batch(model: nn.Module,
                  img_hw: Sequence[int],
                  seed: int = 0) -> dict:
    """One preprocessed sample: random images, KITTI calibration."""
    virtual = getattr(model, 'virtual_stereo', None) is not None
    num_views = model.num_views + int(virtual)
    cam2img, lidar2cam = kitti_example_calibration(img_hw, num_views)
    sample = Det3DDataSample(
        metainfo=dict(
            cam2img=cam2img,
            lidar2cam=lidar2cam,
            ida_mat=np.eye(3),
            img_shape=tuple(img_hw)))
    gen = torch.Generator().manual_seed(seed)
    if virtual:
        sample.gt_depth = torch.rand(*img_hw, generator=gen) * 9 + 1
    imgs = torch.randint(
        0,
        256, (num_views - int(virtual), 3, *img_hw),
        generator=gen,
        dtype=torch.uint8)
    batch = dict(inputs=dict(imgs=[imgs]), data_samples=[sample])
    return model.data_preprocessor(batch, False)


def count(model: nn.Module, img_hw: Sequence[int]) -> List[Part]:
    """Parameters and FLOPs of every part; the last row is ``other``.

    A parameter (or FLOP) belongs to the innermost part that holds it;
    anything outside every part is ``other``. The rows sum to the model's
    totals.
    """
    parts = model_parts(model)
    params = dict.fromkeys(parts, 0)
    params[''] = 0
    for name, param in model.named_parameters():
        params[_owner(name, parts)] += param.numel()

    data = example_batch(model, img_hw)
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(**data, mode='tensor')
    root = type(model).__name__
    counts = {
        name[len(root) + 1:] if name != root else '': sum(ops.values())
        for name, ops in counter.get_flop_counts().items()
        if name == root or name.startswith(root + '.')
    }
    flops = {}
    for path in list(parts) + ['']:
        inner = [
            p for p in parts
            if p != path and _owner(p, [q for q in parts if q != p]) == path
        ]
        flops[path] = counts.get(path, 0) - sum(
            counts.get(p, 0) for p in inner)
    rows = [Part(parts[p], params[p], flops[p]) for p in parts]
    rows.append(Part('other', params[''], flops['']))
    return rows


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of an OccDepth model per part')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='image size (default: the config\'s crop_size)')
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
    rows = count(model, img_hw)
    total_params = sum(p.numel() for p in model.parameters())
    total_flops = sum(row.flops for row in rows)
    views = model.num_views
    print(f'{args.config}: {views} view(s) of {img_hw[0]} x {img_hw[1]}, '
          f'output grid {" x ".join(str(n) for n in model.grid_size)}')
    print(f'{"part":<34}{"params (M)":>12}{"GFLOPs":>12}')
    for row in rows:
        print(f'{row.name:<34}{row.params / 1e6:>12.3f}'
              f'{row.flops / 1e9:>12.2f}')
    print(f'{"total":<34}{total_params / 1e6:>12.3f}'
          f'{total_flops / 1e9:>12.2f}')
    print('FLOPs: 2 per multiply-add of convolutions and matrix products '
          '(torch FlopCounterMode); thop/fvcore MACs are half of this.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
