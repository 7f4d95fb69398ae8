"""Every config under configs/ (``_base_`` excluded) stays usable.

For each config: it loads; its dataloaders, pipelines, evaluators, hooks,
optimizer and schedulers name registered parts with accepted arguments; its
geometry, channels and views agree between model and data; and its model,
shrunk to a CPU size (EfficientNet-B0, 8 channels, a 16 x 16 x 8 projected
grid, 32 x 96 images) with everything else kept, runs one training step
with exactly the losses the config asks for, every parameter getting a
gradient (DDP runs with ``find_unused_parameters=False``). The geometry and
the feature width are stated once, on the model, never by its parts. Each
derived config (ablation rows, MonoScene^st, the released model) differs
from the config it inherits in exactly the keys of its row.
"""
import ast
import copy
import functools
import glob
import inspect
import json
import math
import os.path as osp
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS
from torch import nn

import projects.OccDepth.occdepth  # noqa: F401
from projects.OccDepth.occdepth.models.occ_heads.ssc_head import LOSS_NAMES

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs')
CONFIGS = sorted(
    osp.relpath(path, CONFIG_DIR)
    for path in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(path, CONFIG_DIR).split(osp.sep))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

IMG_HW = (32, 96)
PROJ_GRID = (16, 16, 8)  # projected (SFA / OAD) grid of the shrunk models
FEAT = 8


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: far faster than two on a shared 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _fromfile(rel: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, rel))


def load_config(rel: str) -> Config:
    """A copy of the config; its dataset types must be registered."""
    cfg = _fromfile(rel)
    missing = sorted({
        cfg[name]['dataset']['type']
        for name in LOADERS if name in cfg and 'dataset' in cfg[name]
        and DATASETS.get(cfg[name]['dataset']['type']) is None
    })
    assert not missing, f'{rel}: dataset type(s) {missing} not registered'
    return copy.deepcopy(cfg)


def accepted_kwargs(cls: type) -> set:
    """Keyword arguments that ``cls(...)`` accepts (following **kwargs)."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names - {'self'}


def default_arg(cls: type, name: str, fallback: Any = None) -> Any:
    param = inspect.signature(cls.__init__).parameters.get(name)
    if param is None or param.default is param.empty:
        return fallback
    return param.default


def loads_depth(pipeline: List[dict]) -> bool:
    """Whether a pipeline loads a depth map (``Load*Depth``)."""
    return any(t['type'].startswith('Load') and t['type'].endswith('Depth')
               for t in pipeline)


def model_arg(model: dict, name: str) -> Any:
    """An ``OccDepth`` argument: the config's value or the default."""
    if name in model:
        return model[name]
    return default_arg(MODELS.get(model['type']), name)


def model_views(model: dict) -> Tuple[int, int]:
    """(views the model lifts, image views it gets from the data)."""
    img_views = model_arg(model, 'num_views')
    return img_views + (1 if model.get('virtual_stereo') else 0), img_views


# The values OccDepth hands to its parts: {part: arguments}.
HANDED_DOWN = {
    'backbone': ('out_channels', ),
    'view_transformer':
    ('grid_size', 'voxel_size', 'voxel_origin', 'in_channels', 'num_views'),
    'depth_head': ('in_channels', 'grid_size', 'voxel_size', 'voxel_origin'),
    'occ_head': ('in_channels', 'grid_size', 'project_scale'),
}


# ----------------------------------------------------------------------
# 1. parts are registered, arguments accepted, model and data agree
# ----------------------------------------------------------------------
def check_model_against_data(rel: str, cfg: Config) -> None:
    """Grids, classes, views and depth agree across the config; the grid and
    the width are stated by the model only."""
    model = cfg.model
    occ = model.occ_head
    for part, keys in HANDED_DOWN.items():
        restated = sorted(set(model.get(part) or {}) & set(keys))
        assert not restated, (f'{rel}: model.{part} restates {restated}, '
                              'which the model hands down')
    if occ.get('variant', 'kitti') == 'nyu':
        assert model_arg(model, 'project_scale') == 1, rel
    heads = [model.depth_head] if model.get('depth_head') else []

    _, img_views = model_views(model)
    for name in LOADERS:
        dataset = cfg[name].dataset
        cls = DATASETS.get(dataset.type)
        for key in ('grid_size', 'voxel_size', 'voxel_origin'):
            if key in dataset:
                assert np.allclose(dataset[key],
                                   model_arg(model, key)), (rel, name, key)
        classes = getattr(cls, 'METAINFO', {}).get('classes')
        if classes is not None:
            assert len(classes) == occ.num_classes, (rel, name)
        if 'num_views' in accepted_kwargs(cls):
            served = dataset.get('num_views', default_arg(cls, 'num_views'))
            assert served == img_views, (f'{rel}: {name} serves {served} '
                                         f'view(s), the model takes '
                                         f'{img_views}')
        pipeline = dataset.get('pipeline', [])
        if loads_depth(pipeline):
            assert heads or model.get('virtual_stereo'), (
                f'{rel}: {name} loads depth maps that no part of the model '
                'uses')
            if 'depth_root' in accepted_kwargs(cls):
                assert dataset.get('depth_root'), (
                    f'{rel}: {name} loads depth maps but has no depth_root')
    if model.get('virtual_stereo'):
        for name in LOADERS:
            assert loads_depth(cfg[name].dataset.pipeline), (
                f'{rel}: virtual stereo needs the depth map in {name}')


@pytest.mark.parametrize('rel', CONFIGS)
def test_config_parts_are_registered_and_consistent(rel):
    cfg = load_config(rel)
    for name in LOADERS:
        assert name in cfg and 'dataset' in cfg[name], f'{rel}: no {name}'
        dataset = cfg[name].dataset
        cls = DATASETS.get(dataset.type)
        unknown = set(dataset) - {'type'} - accepted_kwargs(cls)
        assert not unknown, (f'{rel}: {name}.dataset has arguments '
                             f'{sorted(unknown)} that {dataset.type} does '
                             'not accept')
        assert dataset.get('pipeline'), f'{rel}: {name} has no pipeline'
        for transform in dataset.pipeline:
            TRANSFORMS.build(copy.deepcopy(transform))
    for name in ('val_evaluator', 'test_evaluator'):
        assert name in cfg, f'{rel}: no {name}'
        evaluators = cfg[name]
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            METRICS.build(copy.deepcopy(evaluator))
    for hook in cfg.get('custom_hooks', []):
        HOOKS.build(copy.deepcopy(hook))
    for name in ('train_cfg', 'val_cfg', 'test_cfg', 'model'):
        assert name in cfg, f'{rel}: no {name}'

    toy = nn.Linear(2, 2)
    optim_wrapper = build_optim_wrapper(toy, copy.deepcopy(cfg.optim_wrapper))
    for scheduler in cfg.get('param_scheduler', []):
        PARAM_SCHEDULERS.build(
            dict(copy.deepcopy(scheduler), optimizer=optim_wrapper))
    optim_wrapper.update_params(toy(torch.ones(1, 2)).sum())

    check_model_against_data(rel, cfg)


# ----------------------------------------------------------------------
# 2. the (shrunk) model of every config trains one step
# ----------------------------------------------------------------------
def shrink_model(model: dict) -> dict:
    """The model at CPU-test size, every other setting kept.

    The output grid keeps the config's x extent, its ratio to the projected
    grid (``project_scale``) and its origin.
    """
    model = copy.deepcopy(model)
    ratio = model_arg(model, 'project_scale')
    grid = tuple(n * ratio for n in PROJ_GRID)
    voxel = model_arg(model, 'voxel_size') * model_arg(
        model, 'grid_size')[0] / grid[0]
    model.update(
        grid_size=grid,
        voxel_size=voxel,
        voxel_origin=tuple(model_arg(model, 'voxel_origin')),
        feature_channels=FEAT)
    model['backbone'].update(arch='b0', init_cfg=None)
    if model.get('depth_head'):
        model['depth_head'].update(mid_channels=16)
    return model


def make_batch(model: dict, with_depth: bool, seed: int = 0) -> dict:
    """One training sample of random images and labels for ``model``.

    The rig is KITTI's scaled to ``IMG_HW``: x forward / y left / z up voxel
    frame, cameras 0.54 m apart along camera x.
    """
    rng = np.random.default_rng(seed)
    views, img_views = model_views(model)
    h, w = IMG_HW
    f = 707.0912 * w / 1220
    k = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    lidar2cam = np.zeros((views, 4, 4))
    lidar2cam[:, 0, 1] = lidar2cam[:, 1, 2] = -1
    lidar2cam[:, 2, 0] = lidar2cam[:, 3, 3] = 1
    lidar2cam[:, 0, 3] = -0.54 * np.arange(views)
    grid = tuple(model['grid_size'])
    sample = Det3DDataSample(
        metainfo=dict(
            cam2img=np.stack([k] * views),
            lidar2cam=lidar2cam,
            ida_mat=np.eye(3),
            flip=False,
            img_shape=IMG_HW,
            voxel_origin=tuple(model['voxel_origin']),
            voxel_size=model['voxel_size'],
            grid_size=grid,
            sequence='00',
            frame_id='000000'))
    num_classes = model['occ_head']['num_classes']
    gt = rng.integers(0, num_classes, size=grid).astype(np.uint8)
    gt[rng.random(grid) < 0.1] = 255
    sample.gt_occ = torch.from_numpy(gt)
    crp_grid = tuple(math.ceil(n / 4) for n in PROJ_GRID)
    sample.gt_occ_crp = torch.from_numpy(
        rng.integers(0, num_classes, size=crp_grid).astype(np.uint8))
    if with_depth:
        sample.gt_depth = torch.from_numpy(
            rng.uniform(0, 20, size=IMG_HW).astype(np.float32))
    imgs = torch.from_numpy(
        rng.integers(0, 256, size=(img_views, 3, h, w), dtype=np.uint8))
    return dict(inputs=dict(imgs=[imgs]), data_samples=[sample])


def expected_losses(model: dict, with_depth: bool) -> set:
    # the head rejects a configured loss that cannot run
    names = {name for name in LOSS_NAMES if model['occ_head'].get(name)}
    if model.get('depth_head') and with_depth:
        names.add('loss_depth')
    return names


@functools.lru_cache(maxsize=None)
def train_step(key: str) -> Tuple[nn.Module, Dict[str, float]]:
    """Build the model of ``key`` and run one forward / backward.

    Configs whose shrunk models and batches are equal share one run.
    """
    model_cfg, with_depth = json.loads(key)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.train()
    batch = make_batch(model_cfg, with_depth)
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total), losses
    total.backward()
    # DDP runs with find_unused_parameters=False: every parameter takes part
    unused = [
        name for name, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not unused, f'parameters without a gradient: {unused}'
    for part in ('backbone', 'occ_head'):
        grads = [p.grad.abs().sum() for p in getattr(model, part).parameters()]
        assert sum(grads) > 0, f'no gradient reaches {part}'
    model.zero_grad(set_to_none=True)
    return model, {name: value.item() for name, value in losses.items()}


@pytest.mark.parametrize('rel', CONFIGS)
def test_config_model_trains_one_step(rel):
    cfg = load_config(rel)
    model_cfg = shrink_model(cfg.model.to_dict())
    with_depth = bool(
        loads_depth(cfg.train_dataloader.dataset.pipeline)
        or model_cfg.get('virtual_stereo'))
    key = json.dumps([model_cfg, with_depth], sort_keys=True)
    model, losses = train_step(key)
    assert set(losses) == expected_losses(model_cfg, with_depth)
    assert all(np.isfinite(v) for v in losses.values()), losses
    for hook_cfg in cfg.get('custom_hooks', []):
        hook = HOOKS.build(copy.deepcopy(hook_cfg))
        if hook_cfg['type'] == 'LossWeightDecayHook':
            # resolves weights_attr and every loss name on the model
            hook.before_train(SimpleNamespace(model=model))
            assert set(hook.base_weights) == set(hook.loss_names)


# ----------------------------------------------------------------------
# 3. each derived config changes exactly its row
# ----------------------------------------------------------------------
def _no_depth(pipeline: List[dict]) -> bool:
    return not loads_depth(pipeline)


def _plain_jitter(pipeline: List[dict]) -> bool:
    """ColorJitter(0.4, 0.4, 0.4) only: no blur, grayscale or hue."""
    aug = [t for t in pipeline if t['type'] == 'StereoPhotoMetricDistortion']
    return len(aug) == 1 and all(
        aug[0][key] == 0 for key in ('hue', 'blur_prob', 'grayscale_prob'))


def _plain_with_depth(pipeline: List[dict]) -> bool:
    return _plain_jitter(pipeline) and loads_depth(pipeline)


def _b3_weights(checkpoint: str) -> bool:
    return checkpoint == 'checkpoints/tf_efficientnet_b3_ns.pth'


def _lidar(depth_root: str) -> bool:
    return 'lidar' in depth_root


def _pipeline(check: Callable) -> Dict[str, Callable]:
    keys = ('train_pipeline', 'train_dataloader.dataset.pipeline')
    return {key: check for key in keys}


def _views(num: int) -> Dict[str, int]:
    keys = [f'{name}.dataset.num_views' for name in LOADERS]
    keys += ['num_views', 'model.num_views']
    return {key: num for key in keys}


def _width(arch: str, feature: int, weights: Callable) -> Dict[str, Any]:
    return {
        'model.feature_channels': feature,
        'model.backbone.arch': arch,
        'model.backbone.init_cfg.checkpoint': weights,
    }


NO_DEPTH = {
    **_pipeline(_no_depth), 'train_dataloader.dataset.depth_root': None
}
MEAN = {'model.view_transformer.fusion': 'mean'}
CONCAT = {'model.view_transformer.fusion': 'concat'}
NO_OAD = {'model.depth_head': None}
NO_TMO = {**_pipeline(_plain_with_depth), 'custom_hooks': []}
MONOSCENE_ST = {**_views(2), **MEAN}
RELEASED = {
    **_width('b3', 32, _b3_weights),
    **NO_TMO,
    'model.backbone.share_gradient': True,
    'model.depth_head.target_binning': 'uniform',
    'model.depth_head.grid_convention': 'released',
    'model.depth_head.flip_convention': 'released',
}
B3_C24 = _width('b3', 24, _b3_weights)
TABLE4B = {
    **B3_C24,
    **_views(1),
    'model.occ_head.context_prior': False,
    'model.occ_head.decoupled': False,
    'model.occ_head.loss_relation': None,
    'model.occ_head.loss_occ': None,
}
UD = {'model.depth_head.discretization': 'UD'}
SID = {'model.depth_head.discretization': 'SID'}


def _depth_of_both_views(pipeline: List[dict]) -> bool:
    loads = [t for t in pipeline if t['type'] == 'LoadStereoDepth']
    return len(loads) == 1 and loads[0].get('num_views') == 2


LIDAR = {
    'depth_root': _lidar,
    'train_dataloader.dataset.depth_root': _lidar,
    **_pipeline(_depth_of_both_views),
}

SYNTHETIC_EVAL_PIPELINES = ('test_pipeline', 'val_dataloader.dataset.pipeline',
                            'test_dataloader.dataset.pipeline')
# the synthetic benchmark scores depth at test time too: without OAD the
# evaluation pipelines lose their depth maps as well
SYNTHETIC_NO_OAD = {
    **NO_OAD,
    **NO_DEPTH,
    **{
        key: _no_depth
        for key in SYNTHETIC_EVAL_PIPELINES
    },
    'val_dataloader.dataset.depth_root': None,
    'test_dataloader.dataset.depth_root': None,
}

# derived config -> (the config its _base_ names, {changed key: new value,
# or a predicate on it}); a key also covers the keys nested under it.
DERIVED = {
    'occdepth_kitti_released.py': ('occdepth_kitti.py', RELEASED),
    'occdepth_kitti_released_strongimgaug.py': ('occdepth_kitti_released.py', {
        'model.data_preprocessor.batch_augments':
        lambda augs: [a['type'] for a in augs] ==
        ['BatchGaussianBlur', 'BatchRandomApply']
    }),
    'monoscene_st_kitti.py': ('monoscene_kitti.py', MONOSCENE_ST),
    'ablations/table3_full.py': ('occdepth_kitti.py', {}),
    'ablations/table3_wo_tmo.py': ('ablations/table3_full.py', NO_TMO),
    'ablations/table3_wo_depth_distillation.py': ('ablations/table3_wo_tmo.py',
                                                  NO_DEPTH),
    'ablations/table3_wo_oad.py': ('ablations/table3_wo_depth_distillation.py',
                                   NO_OAD),
    'ablations/table3_wo_stereo_sfa.py': ('ablations/table3_wo_oad.py', MEAN),
    'ablations/table3_monoscene.py': ('monoscene_kitti.py', {}),
    'ablations/table4a_fusion_stereo_sfa.py': ('ablations/table3_wo_oad.py',
                                               B3_C24),
    'ablations/table4a_fusion_mean.py':
    ('ablations/table4a_fusion_stereo_sfa.py', MEAN),
    'ablations/table4a_fusion_concat.py':
    ('ablations/table4a_fusion_stereo_sfa.py', CONCAT),
    'ablations/table4b_depth_bins_lid.py':
    ('ablations/table3_wo_depth_distillation.py', TABLE4B),
    'ablations/table4b_depth_bins_ud.py':
    ('ablations/table4b_depth_bins_lid.py', UD),
    'ablations/table4b_depth_bins_sid.py':
    ('ablations/table4b_depth_bins_lid.py', SID),
    'ablations/table4c_depth_stereo.py': ('ablations/table3_wo_tmo.py', {}),
    'ablations/table4c_depth_none.py': ('ablations/table4c_depth_stereo.py',
                                        NO_DEPTH),
    'ablations/table4c_depth_lidar.py': ('ablations/table4c_depth_stereo.py',
                                         LIDAR),
    'occdepth_kitti360_no_depth.py': ('occdepth_kitti360.py', NO_DEPTH),
    # the synthetic stereo benchmark: every row changes one part of full.py
    'ablations/synthetic/full.py': ('ablations/synthetic/_base_/benchmark.py',
                                    {}),
    'ablations/synthetic/mono.py': ('ablations/synthetic/full.py', _views(1)),
    'ablations/synthetic/mean.py': ('ablations/synthetic/full.py', MEAN),
    'ablations/synthetic/concat.py': ('ablations/synthetic/full.py', CONCAT),
    'ablations/synthetic/no_oad.py': ('ablations/synthetic/full.py',
                                      SYNTHETIC_NO_OAD),
    'ablations/synthetic/no_distillation.py': ('ablations/synthetic/full.py',
                                               NO_DEPTH),
    'ablations/synthetic/ud.py': ('ablations/synthetic/full.py', UD),
    'ablations/synthetic/sid.py': ('ablations/synthetic/full.py', SID),
}


def flatten(obj: Any, prefix: str = '') -> Dict[str, Any]:
    """Nested dicts -> ``{'a.b.c': leaf}``; lists are leaves."""
    if isinstance(obj, dict) and obj:
        flat = {}
        for key, value in obj.items():
            flat.update(flatten(value, f'{prefix}{key}.'))
        return flat
    return {prefix[:-1]: obj}


def declared_base(rel: str) -> List[str]:
    """The ``_base_`` of a config file, relative to configs/."""
    with open(osp.join(CONFIG_DIR, rel)) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], 'id', None) == '_base_'):
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            return [
                osp.relpath(
                    osp.normpath(osp.join(CONFIG_DIR, osp.dirname(rel), b)),
                    CONFIG_DIR) for b in bases
            ]
    return []


def test_every_ablation_is_checked():
    ablations = {rel for rel in CONFIGS if rel.startswith('ablations/')}
    assert ablations <= set(DERIVED), sorted(ablations - set(DERIVED))


@pytest.mark.parametrize('rel', sorted(DERIVED))
def test_derived_config_changes_only_its_row(rel):
    base, checks = DERIVED[rel]
    assert declared_base(rel) == [base]
    child = flatten(load_config(rel).to_dict())
    parent = flatten(load_config(base).to_dict())
    missing = object()
    changed = {
        key
        for key in set(child) | set(parent)
        if child.get(key, missing) != parent.get(key, missing)
    }

    def row_key(key):
        return next((p for p in checks if key == p or key.startswith(p + '.')),
                    None)

    unexpected = sorted(key for key in changed if row_key(key) is None)
    assert not unexpected, f'{rel} also changes {unexpected}'
    for prefix, check in checks.items():
        assert any(row_key(key) == prefix
                   for key in changed), (f'{rel} does not change {prefix}')
        if prefix in child:
            value = child[prefix]
            ok = check(value) if callable(check) else value == check
            assert ok, f'{rel}: {prefix} = {value!r}'
