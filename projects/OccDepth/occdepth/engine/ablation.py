"""Ablation study: train each (config, seed), evaluate, tabulate.

``tools/analysis_tools/ablation_study.py`` drives it. Each run trains one
config with one seed (``randomness.seed``) in its own process and work dir
``WORK/<config name>/seed_<S>``, then evaluates the final weights on the
config's ``test_dataloader`` (the held-out split): SC IoU and mIoU
(:class:`~projects.OccDepth.occdepth.evaluation.SSCMetric`) and, for models
with an OAD depth head, the AbsRel and delta<1.25 of the head's expected
depth of the left view against the ground-truth depth map
(:class:`~projects.OccDepth.occdepth.evaluation.DepthMetric`). The run
writes ``result.json`` last, atomically.

Resuming: a run whose ``result.json`` exists is not repeated; a run killed
before it resumes its training from the newest checkpoint of its work dir
(one per epoch) and then evaluates. The table gives, per config, the mean
and the sample standard deviation (``ddof = 1``) over its finished seeds
and their number ``n``.
"""
import json
import os
import os.path as osp
import subprocess
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from projects.OccDepth.occdepth.models.utils import geometry

RESULT_FILE = 'result.json'
LOG_FILE = 'run.log'
# (key in result.json, column title, decimals)
COLUMNS = (('SC_IoU', 'SC IoU', 2), ('mIoU', 'mIoU', 2),
           ('AbsRel', 'AbsRel', 3), ('delta_1_25', 'δ<1.25 (%)',
                                     1), ('minutes', 'minutes per run', 1))


def config_name(config: str) -> str:
    """Name of a config's results: its file name without ``.py``."""
    return osp.splitext(osp.basename(config))[0]


def run_dir(work_dir: str, config: str, seed: int) -> str:
    """Work dir of one (config, seed) run."""
    return osp.join(work_dir, config_name(config), f'seed_{seed}')


def write_json_atomic(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------
# one run (in its own process)
# ----------------------------------------------------------------------
def expected_depth(depth_prob: torch.Tensor, depth_head) -> torch.Tensor:
    """Expected depth of a depth distribution over the head's bins.

    Args:
        depth_prob: ``(..., D, h, w)`` probabilities over the ``D`` bins of
            ``depth_head`` (an ``OADepthHead``).
        depth_head: Gives ``discretization``, ``depth_min``, ``depth_max``
            and ``num_bins``.

    Returns:
        ``(..., h, w)``: the sum over bins of probability times the bin's
        centre (the middle of its near and far edge).
    """
    edges = geometry.bin_to_depth(
        torch.arange(
            depth_head.num_bins + 1,
            dtype=torch.float64,
            device=depth_prob.device), depth_head.discretization,
        depth_head.depth_min, depth_head.depth_max, depth_head.num_bins)
    centres = (0.5 * (edges[1:] + edges[:-1])).to(depth_prob.dtype)
    return (depth_prob * centres[:, None, None]).sum(dim=-3)


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, dataloader,
                   metainfo: dict) -> Dict[str, float]:
    """SSC scores and, with an OAD head, depth scores of a trained model.

    The depth head's expected depth of view 0 is upsampled (nearest) from
    the feature map to the image and compared with the sample's
    ``gt_depth`` over the head's depth range.
    """
    from projects.OccDepth.occdepth.evaluation import DepthMetric, SSCMetric
    model.eval()
    ssc = SSCMetric()
    ssc.dataset_meta = metainfo
    head = getattr(model, 'depth_head', None)
    depth = None
    if head is not None:
        depth = DepthMetric(depth_range=(head.depth_min, head.depth_max))
    for batch in dataloader:
        data = model.data_preprocessor(batch, False)
        samples = data['data_samples']
        outputs = model.extract_feat(data['inputs']['imgs'], samples)
        for sample, pred in zip(samples, outputs['ssc_logits'].argmax(1)):
            sample.pred_occ = pred
        if depth is not None:
            img_hw = data['inputs']['imgs'].shape[-2:]
            pred_depth = expected_depth(outputs['depth_prob'][:, 0], head)
            pred_depth = F.interpolate(
                pred_depth[:, None], size=tuple(img_hw), mode='nearest')[:, 0]
            for sample, pred in zip(samples, pred_depth):
                if not hasattr(sample, 'gt_depth'):
                    raise ValueError(
                        'evaluate_model: the model has a depth head but a '
                        'test sample has no gt_depth: the test pipeline '
                        'must load the depth maps (LoadStereoDepth)')
                sample.pred_depth = pred
            depth.process(batch, samples)
        ssc.process(batch, samples)
    size = len(dataloader.dataset)
    scores = ssc.evaluate(size)
    if depth is not None:
        scores.update(depth.evaluate(size))
    return scores


def train_and_evaluate(config: str,
                       seed: int,
                       work_dir: str,
                       threads: int = 1) -> dict:
    """Train ``config`` with ``seed`` in ``work_dir``, evaluate, save.

    Training resumes from the newest checkpoint of ``work_dir`` when there
    is one. Writes ``work_dir/result.json`` and returns its content.
    """
    from mmdet3d.registry import RUNNERS
    from mmengine.config import Config
    from mmengine.runner import Runner

    from projects.OccDepth.occdepth.engine.threads import configure_cpu_threads

    start = time.perf_counter()
    configure_cpu_threads(threads)
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.randomness = dict(cfg.get('randomness', {}), seed=int(seed))
    cfg.launcher = 'none'
    resumable = osp.isdir(work_dir) and any(
        name.endswith('.pth') for name in os.listdir(work_dir))
    cfg.resume = resumable
    cfg.load_from = None
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()
    dataloader = Runner.build_dataloader(cfg.test_dataloader, seed=int(seed))
    scores = evaluate_model(runner.model, dataloader,
                            dataloader.dataset.metainfo)
    result = dict(
        config=osp.abspath(config),
        name=config_name(config),
        seed=int(seed),
        resumed=resumable,
        minutes=(time.perf_counter() - start) / 60.0,
        threads=int(threads),
        scores={
            k: float(v)
            for k, v in scores.items()
        })
    write_json_atomic(osp.join(work_dir, RESULT_FILE), result)
    return result


# ----------------------------------------------------------------------
# the study (the parent process)
# ----------------------------------------------------------------------
def run_study(configs: Sequence[str],
              seeds: Sequence[int],
              work_dir: str,
              command: Callable[[str, int, str], List[str]],
              jobs: int = 1,
              log: Callable[[str], None] = print) -> List[Tuple[str, int]]:
    """Run every (config, seed) without a ``result.json``, ``jobs`` at once.

    The runs start in the order seed 0 of every config, then seed 1, ...

    Args:
        configs: Config files.
        seeds: Seeds of every config.
        work_dir: Root of the runs' work dirs (:func:`run_dir`).
        command: ``(config, seed, run_dir) -> argv`` of one run's process,
            which must write ``run_dir/result.json``.
        jobs: Runs at once.
        log: Progress lines.

    Returns:
        The (config, seed) runs that failed (non-zero exit or no result);
        their output is in ``run_dir/run.log``.
    """
    if jobs < 1:
        raise ValueError(f'jobs must be at least 1, got {jobs}')
    todo = []
    # seed by seed, so that an interrupted study has every config's first
    # seeds
    for seed in seeds:
        for config in configs:
            path = run_dir(work_dir, config, seed)
            if osp.isfile(osp.join(path, RESULT_FILE)):
                log(f'{config_name(config)} seed {seed}: done, not repeated')
            else:
                todo.append((config, seed, path))
    failed = []
    running = []

    def finish(proc, config, seed, path, log_file, start):
        log_file.close()
        ok = proc.returncode == 0 and osp.isfile(osp.join(path, RESULT_FILE))
        minutes = (time.perf_counter() - start) / 60
        log(f'{config_name(config)} seed {seed}: '
            f'{"finished" if ok else "FAILED"} in {minutes:.1f} min '
            f'(log: {osp.join(path, LOG_FILE)})')
        if not ok:
            failed.append((config, seed))

    while todo or running:
        while todo and len(running) < jobs:
            config, seed, path = todo.pop(0)
            os.makedirs(path, exist_ok=True)
            log_file = open(osp.join(path, LOG_FILE), 'a')
            log(f'{config_name(config)} seed {seed}: started')
            proc = subprocess.Popen(
                command(config, seed, path),
                stdout=log_file,
                stderr=subprocess.STDOUT)
            running.append(
                (proc, config, seed, path, log_file, time.perf_counter()))
        still = []
        for entry in running:
            if entry[0].poll() is None:
                still.append(entry)
            else:
                finish(*entry)
        running = still
        if running:
            time.sleep(1.0)
    return failed


def collect_results(configs: Sequence[str], seeds: Sequence[int],
                    work_dir: str) -> Dict[str, List[dict]]:
    """The ``result.json`` of every finished run, by config name."""
    results = {}
    for config in configs:
        found = []
        for seed in seeds:
            path = osp.join(run_dir(work_dir, config, seed), RESULT_FILE)
            if osp.isfile(path):
                with open(path) as f:
                    found.append(json.load(f))
        results[config_name(config)] = found
    return results


def mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (``ddof = 1``; None for n < 2)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError('mean_std of no values')
    std = float(values.std(ddof=1)) if values.size > 1 else None
    return float(values.mean()), std


def summarize(results: Dict[str, List[dict]]) -> Dict[str, dict]:
    """Per config: ``n``, ``seeds`` and ``{key: {mean, std, values}}``.

    A score is summarised when every finished run of the config has it
    (the depth scores only exist for models with a depth head).
    """
    table = {}
    for name, runs in results.items():
        if not runs:
            continue
        row = dict(n=len(runs), seeds=[r['seed'] for r in runs], scores={})
        for key, _, _ in COLUMNS:
            values = [
                r['minutes'] if key == 'minutes' else r['scores'].get(key)
                for r in runs
            ]
            if any(v is None for v in values):
                continue
            mean, std = mean_std(values)
            row['scores'][key] = dict(mean=mean, std=std, values=values)
        table[name] = row
    return table


def format_table(table: Dict[str, dict]) -> str:
    """Markdown table of :func:`summarize`: ``mean ± std`` per column."""
    lines = [
        '| config | n (seeds) | ' + ' | '.join(t
                                               for _, t, _ in COLUMNS) + ' |',
        '|---|---|' + '---|' * len(COLUMNS)
    ]
    for name, row in table.items():
        cells = [name, f"{row['n']} ({', '.join(map(str, row['seeds']))})"]
        for key, _, digits in COLUMNS:
            score = row['scores'].get(key)
            if score is None:
                cells.append('-')
            elif score['std'] is None:
                cells.append(f"{score['mean']:.{digits}f}")
            else:
                cells.append(f"{score['mean']:.{digits}f} ± "
                             f"{score['std']:.{digits}f}")
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_table(table: Dict[str, dict], path: str) -> None:
    """PNG chart: SC IoU and mIoU per config, mean ± std and every seed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.2 * len(names), 4))
    for ax, (key, title) in zip(axes, (('SC_IoU', 'SC IoU (%)'),
                                       ('mIoU', 'mIoU (%)'))):
        for i, name in enumerate(names):
            score = table[name]['scores'][key]
            ax.bar(i, score['mean'], color='#8fb3d9', width=0.6)
            if score['std'] is not None:
                ax.errorbar(
                    i, score['mean'], yerr=score['std'], color='k', capsize=4)
            ax.scatter(
                [i] * len(score['values']),
                score['values'],
                color='#c0392b',
                s=12,
                zorder=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha='right')
        ax.set_title(f'{title}: mean ± std, dots = seeds')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(table: Dict[str, dict], work_dir: str) -> List[str]:
    """Write ``ablation.md``, ``ablation.json`` and ``ablation.png``."""
    paths = [
        osp.join(work_dir, f'ablation.{ext}') for ext in ('md', 'json', 'png')
    ]
    with open(paths[0], 'w') as f:
        f.write(format_table(table))
    write_json_atomic(paths[1], table)
    plot_table(table, paths[2])
    return paths
