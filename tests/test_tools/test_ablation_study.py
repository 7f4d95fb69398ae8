"""The ablation study: resumable runs, the table's arithmetic, one real run.

``tools/analysis_tools/ablation_study.py`` with the logic in
``projects/OccDepth/occdepth/engine/ablation.py``.
"""
import importlib.util
import json
import os.path as osp
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from projects.OccDepth.occdepth.engine import ablation, sfa_diagnostics
from tools.dataset_converters import synthetic_benchmark

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FAKE_RUN = (
    'import json, os, sys\n'
    'config, seed, run_dir, counter = sys.argv[1:]\n'
    'open(counter, "a").write(f"{config} {seed}\\n")\n'
    'if "broken" in config: sys.exit(3)\n'
    'json.dump(dict(seed=int(seed), minutes=0.5, scores=dict(SC_IoU=40.0 + '
    'int(seed), mIoU=10.0)), open(os.path.join(run_dir, "result.json"), '
    '"w"))\n')


def _fake_command(counter):

    def command(config, seed, run_dir):
        return [
            sys.executable, '-c', FAKE_RUN, config,
            str(seed), run_dir, counter
        ]

    return command


def test_finished_runs_are_not_repeated(tmp_path):
    counter = str(tmp_path / 'calls.txt')
    work = str(tmp_path / 'work')
    configs = ['a/full.py', 'b/mono.py']
    lines = []
    failed = ablation.run_study(
        configs, [0, 1],
        work,
        _fake_command(counter),
        jobs=2,
        log=lines.append)
    assert failed == []
    with open(counter) as f:
        assert sorted(f.read().split('\n')[:-1]) == [
            'a/full.py 0', 'a/full.py 1', 'b/mono.py 0', 'b/mono.py 1'
        ]
    assert osp.isfile(osp.join(work, 'mono', 'seed_1', 'result.json'))
    # a second study with one more seed runs only that seed
    lines.clear()
    failed = ablation.run_study(
        configs, [0, 1, 2], work, _fake_command(counter), log=lines.append)
    assert failed == []
    with open(counter) as f:
        calls = f.read().split('\n')[:-1]
    assert calls[4:] == ['a/full.py 2', 'b/mono.py 2']
    assert sum('done, not repeated' in line for line in lines) == 4
    results = ablation.collect_results(configs, [0, 1, 2], work)
    assert [r['seed'] for r in results['full']] == [0, 1, 2]


def test_failed_run_is_reported_not_tabulated(tmp_path):
    counter = str(tmp_path / 'calls.txt')
    work = str(tmp_path / 'work')
    lines = []
    failed = ablation.run_study(['x/broken.py', 'x/full.py'], [0],
                                work,
                                _fake_command(counter),
                                log=lines.append)
    assert failed == [('x/broken.py', 0)]
    assert any('broken seed 0: FAILED' in line for line in lines)
    results = ablation.collect_results(['x/broken.py', 'x/full.py'], [0], work)
    table = ablation.summarize(results)
    assert list(table) == ['full']
    with pytest.raises(ValueError, match='jobs'):
        ablation.run_study([], [0], work, _fake_command(counter), jobs=0)


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'ablation_study',
        osp.join(ROOT, 'tools', 'analysis_tools', 'ablation_study.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_collect_only_starts_no_run(tmp_path, capsys):
    config = tmp_path / 'full.py'
    config.write_text('')
    work = tmp_path / 'work'
    (work / 'full' / 'seed_0').mkdir(parents=True)
    (work / 'full' / 'seed_0' / 'result.json').write_text(
        json.dumps(
            dict(seed=0, minutes=2.0, scores=dict(SC_IoU=30.0, mIoU=5.0))))
    tool = _load_tool()
    tool.main([
        str(config), '--seeds', '2', '--work-dir',
        str(work), '--collect-only'
    ])
    out = capsys.readouterr().out
    assert '| full | 1 (0) | 30.00 | 5.00 | - | - | 2.0 |' in out
    assert not (work / 'full' / 'seed_1').exists()
    assert (work / 'ablation.png').is_file()


def _run(seed, sc, miou, minutes, depth=None):
    scores = dict(SC_IoU=sc, mIoU=miou)
    if depth is not None:
        scores.update(AbsRel=depth[0], delta_1_25=depth[1])
    return dict(seed=seed, minutes=minutes, scores=scores)


def test_table_mean_and_std_by_hand(tmp_path):
    results = {
        # SC IoU 40, 44, 48: mean 44, deviations -4, 0, 4, sample variance
        # 32 / 2 = 16, std 4; mIoU 10, 12, 14: mean 12, std 2
        'full': [
            _run(0, 40.0, 10.0, 5.0, (0.2, 70.0)),
            _run(1, 44.0, 12.0, 6.0, (0.3, 80.0)),
            _run(2, 48.0, 14.0, 7.0, (0.4, 90.0))
        ],
        # no depth head: no depth columns; one seed: no std
        'no_oad': [_run(0, 50.0, 9.0, 4.0)],
        'empty': [],
    }
    table = ablation.summarize(results)
    assert list(table) == ['full', 'no_oad']
    full = table['full']['scores']
    assert full['SC_IoU']['mean'] == pytest.approx(44.0)
    assert full['SC_IoU']['std'] == pytest.approx(4.0)
    assert full['mIoU']['std'] == pytest.approx(2.0)
    assert full['AbsRel']['mean'] == pytest.approx(0.3)
    assert full['AbsRel']['std'] == pytest.approx(0.1)
    assert full['delta_1_25']['std'] == pytest.approx(10.0)
    assert table['no_oad']['scores']['SC_IoU']['std'] is None
    assert 'AbsRel' not in table['no_oad']['scores']
    text = ablation.format_table(table)
    assert '| full | 3 (0, 1, 2) | 44.00 ± 4.00 | 12.00 ± 2.00 | 0.300 ± ' \
        '0.100 | 80.0 ± 10.0 | 6.0 ± 1.0 |' in text
    assert '| no_oad | 1 (0) | 50.00 | 9.00 | - | - | 4.0 |' in text
    paths = ablation.write_report(table, str(tmp_path))
    assert all(osp.getsize(p) > 0 for p in paths)
    with open(paths[1]) as f:
        assert json.load(f)['full']['scores']['mIoU']['values'] == [
            10.0, 12.0, 14.0
        ]
    with open(paths[2], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_expected_depth_by_hand():
    # UD bins over [0, 4] m: edges 0, 1, 2, 3, 4, centres 0.5 .. 3.5
    head = SimpleNamespace(
        num_bins=4, discretization='UD', depth_min=0.0, depth_max=4.0)
    prob = torch.tensor([0.5, 0.5, 0.0, 0.0])[:, None, None]
    prob = torch.cat(
        [prob, torch.tensor([0.0, 0.0, 0.0, 1.0])[:, None, None]], 2)
    depth = ablation.expected_depth(prob[None], head)
    assert depth.shape == (1, 1, 2)
    assert depth[0, 0].tolist() == pytest.approx([1.0, 3.5])


TINY_CONFIG = """
_base_ = [{base!r}]
crop_size = (32, 96)
geometry = dict(grid_size=(32, 32, 16), voxel_size=0.6,
                voxel_origin=(0.0, -9.6, -4.8))
train_pipeline = [dict(t, crop_size=crop_size) if 'crop_size' in t else t
                  for t in _base_.train_pipeline]
test_pipeline = [dict(t, crop_size=crop_size) if 'crop_size' in t else t
                 for t in _base_.test_pipeline]
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(data_root={root!r},
                                     depth_root={root!r} + '/depth',
                                     sequences=['00'],
                                     pipeline=train_pipeline, **geometry))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root={root!r},
                                   depth_root={root!r} + '/depth',
                                   pipeline=test_pipeline, **geometry))
test_dataloader = val_dataloader
model = dict(**geometry, feature_channels=8,
             depth_head=dict(mid_channels=8))
max_epochs = 1
train_cfg = dict(max_epochs=1, val_interval=2)
param_scheduler = []
"""


def test_one_real_run_then_resumed_study(tmp_path, capsys):
    """The full benchmark row at a tiny size trains, evaluates (SSC and
    depth scores) and is not run again by the tool."""
    root = str(tmp_path / 'bench')
    synthetic_benchmark.generate_benchmark(
        root,
        sequences=('00', '08'),
        frames=1,
        image_size=(32, 96),
        grid_size=(32, 32, 16),
        voxel_size=0.6)
    config = str(tmp_path / 'tiny_full.py')
    with open(config, 'w') as f:
        f.write(
            TINY_CONFIG.format(
                base=osp.join(ROOT, 'configs/ablations/synthetic/full.py'),
                root=root))
    work = str(tmp_path / 'work')
    run_dir = ablation.run_dir(work, config, 0)
    result = ablation.train_and_evaluate(config, 0, run_dir)
    scores = result['scores']
    assert 0.0 <= scores['SC_IoU'] <= 100.0
    assert 0.0 <= scores['mIoU'] <= 100.0
    assert scores['AbsRel'] > 0.0
    assert 0.0 <= scores['delta_1_25'] <= 100.0
    assert osp.isfile(osp.join(run_dir, 'epoch_1.pth'))
    with open(osp.join(run_dir, 'result.json')) as f:
        assert json.load(f)['scores'] == scores

    # the tool: nothing left to run, the table from the finished run
    tool = _load_tool()
    capsys.readouterr()
    tool.main([config, '--seeds', '1', '--work-dir', work])
    assert 'tiny_full seed 0: done, not repeated' in capsys.readouterr().out
    with open(osp.join(work, 'ablation.json')) as f:
        table = json.load(f)
    assert table['tiny_full']['n'] == 1
    assert table['tiny_full']['scores']['mIoU']['mean'] == pytest.approx(
        scores['mIoU'])


def test_sfa_diagnostics_by_hand():
    # pairs (positive > negative): 0.9 beats 0.7 and 0.85, 0.8 beats 0.7,
    # 0.8 ties 0.8 (one half): (2 + 1 + 0.5) / 4
    assert sfa_diagnostics.roc_auc([0.9, 0.8],
                                   [0.7, 0.8]) == pytest.approx(3.5 / 4)
    assert sfa_diagnostics.roc_auc([0.1], [0.2, 0.3]) == 0.0
    labels = np.zeros((4, 2, 2), dtype=np.uint8)
    labels[0, 0, 0] = 9  # coarse voxel 0: one occupied child -> surface
    labels[2, 1, 1] = 255  # coarse voxel 1: an unknown child -> neither
    surface, free = sfa_diagnostics.coarse_occupancy(labels, 2)
    assert surface.reshape(-1).tolist() == [True, False]
    assert free.reshape(-1).tolist() == [False, False]
    labels[2, 1, 1] = 0  # now every child of voxel 1 is known and empty
    surface, free = sfa_diagnostics.coarse_occupancy(labels, 2)
    assert free.reshape(-1).tolist() == [False, True]
