"""Repeatable training: the same seed and thread count give the same bits.

Two tiny runs of the demo's training with every random source the demo has
(shuffled order, photometric jitter and flips loaded by a persistent worker,
drop-connect in the encoder) end with equal weights, BN statistics and
optimizer state; another seed starts from other weights and another sample
order. One thread, as everywhere in the suite: two threads on the shared
2-core test machine wait for each other at every barrier (minutes for this
test); the same check at the demo's size on two threads is in README.md,
"The demo". Also ``tools/run_demo.py --seed`` and the conditions of a run
that it prints.
"""
import importlib.util
import os

import pytest
import torch
from mmengine.runner import Runner

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _runner(tiny_config, data_root, work_dir, seed):
    cfg = tiny_config(data_root, work_dir)
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 3  # no validation
    cfg.param_scheduler[0].milestones = [1]
    cfg.param_scheduler[0].end = 2
    cfg.train_dataloader.num_workers = 1
    cfg.train_dataloader.persistent_workers = True
    cfg.model.backbone.drop_connect_rate = 0.2
    cfg.randomness = dict(seed=seed)
    return Runner.from_cfg(cfg)


def _train(tiny_config, data_root, work_dir, seed):
    """Train 2 epochs x 2 iterations; the initial and the final weights, the
    final optimizer state and the sampler's seed."""
    runner = _runner(tiny_config, data_root, work_dir, seed)
    initial = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert runner.iter == 4
    optimizer = runner.optim_wrapper.optimizer.state_dict()['state']
    return (initial, runner.model.state_dict(), optimizer,
            runner.train_dataloader.sampler.seed)


def test_same_seed_and_threads_give_identical_runs(tiny_kitti, tiny_config,
                                                   tmp_path):
    first = _train(tiny_config, tiny_kitti, str(tmp_path / 'a'), seed=3)
    again = _train(tiny_config, tiny_kitti, str(tmp_path / 'b'), seed=3)

    initial, final, optimizer, sampler_seed = first
    assert again[3] == sampler_seed
    for key in final:
        assert torch.equal(again[0][key], initial[key]), key
        assert torch.equal(again[1][key], final[key]), key
    for index, state in optimizer.items():
        for name, value in state.items():
            assert torch.equal(again[2][index][name], value), (index, name)
    # training moved the weights, so equal final weights say something
    trained = [k for k in final if not torch.equal(final[k], initial[k])]
    assert len(trained) > len(final) // 2
    # another seed: other initial weights and sample order
    other = _runner(tiny_config, tiny_kitti, str(tmp_path / 'c'), seed=4)
    key = 'occ_head.ssc_head.conv_classes.weight'
    assert not torch.equal(other.model.state_dict()[key], initial[key])
    assert other.train_dataloader.sampler.seed != sampler_seed


@pytest.fixture
def run_demo(monkeypatch):
    # importing the tool sets GOMP_SPINCOUNT; monkeypatch restores it
    monkeypatch.delenv('GOMP_SPINCOUNT', raising=False)
    spec = importlib.util.spec_from_file_location(
        'run_demo', os.path.join(ROOT, 'tools', 'run_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_demo_seed(run_demo, tmp_path):
    args = run_demo.parse_args([
        '--seed', '7', '--epochs', '2', '--work-dir',
        str(tmp_path / 'w'), '--data-root',
        str(tmp_path / 'd')
    ])
    cfg = run_demo.demo_config(args)
    assert cfg.randomness.seed == 7
    assert cfg.train_cfg.max_epochs == cfg.train_cfg.val_interval == 2
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path / 'd')
    assert cfg.custom_hooks[-1] == dict(
        type='SSCVisualizationHook', out_dir=str(tmp_path / 'w' / 'renders'))
    # without --seed: configs/_base_/default_runtime.py's seed
    cfg = run_demo.demo_config(run_demo.parse_args([]))
    assert cfg.randomness.seed == 42

    seedless = tmp_path / 'seedless.py'
    seedless.write_text(
        f"_base_ = [{os.path.join(ROOT, 'configs', 'occdepth_demo.py')!r}]\n"
        'randomness = dict(seed=None)\n')
    with pytest.raises(ValueError, match='seedless.py: randomness.seed is '):
        run_demo.demo_config(run_demo.parse_args(['--config', str(seedless)]))
    cfg = run_demo.demo_config(
        run_demo.parse_args(['--config',
                             str(seedless), '--seed', '0']))
    assert cfg.randomness.seed == 0


def test_run_demo_prints_what_a_repetition_needs(run_demo):
    capability = torch.backends.cpu.get_cpu_capability()
    expected = (f'seed 5, 2 torch threads, CPU capability {capability}, '
                f'torch {torch.__version__}')
    assert run_demo.run_conditions(5, 2) == expected
    assert run_demo.run_conditions(0, 1).startswith('seed 0, 1 torch thread,')
