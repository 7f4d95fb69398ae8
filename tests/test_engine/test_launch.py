"""The process-group backend is chosen from the devices of the launch."""
import pytest
from mmengine.config import Config

from projects.OccDepth.occdepth.engine import launch


@pytest.mark.parametrize('requested,cuda,expected', [
    ('auto', True, 'nccl'),
    ('auto', False, 'gloo'),
    ('gloo', True, 'gloo'),
    ('gloo', False, 'gloo'),
    ('nccl', True, 'nccl'),
])
def test_backend_follows_the_devices(requested, cuda, expected):
    assert launch.dist_backend(requested, cuda) == expected


def test_impossible_backends_are_errors():
    with pytest.raises(ValueError, match="'nccl' but CUDA is not available"):
        launch.dist_backend('nccl', cuda=False)
    with pytest.raises(ValueError, match="one of .*got 'mpi'"):
        launch.dist_backend('mpi', cuda=True)


def test_default_runtime_leaves_the_choice_to_the_launch():
    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    assert cfg.env_cfg.dist_cfg.backend == 'auto'


def _launched_cfg(launcher='pytorch'):
    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    cfg.launcher = launcher
    return cfg


@pytest.fixture
def opened(monkeypatch):
    """Records process groups opened by the launch instead of opening one."""
    groups = []
    monkeypatch.setattr(launch.dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(launch.dist, 'init_process_group',
                        lambda backend: groups.append(backend))
    return groups


def test_cuda_launch_gets_nccl_and_mmengine_opens_the_group(
        monkeypatch, opened):
    monkeypatch.setattr(launch.torch.cuda, 'is_available', lambda: True)
    cfg = _launched_cfg()
    launch.prepare_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert opened == []  # mmengine's init_dist does it, on the GPU
    assert cfg.get('model_wrapper_cfg') is None  # DDP gets device_ids


def test_cpu_launch_gets_gloo_and_ddp_without_device_ids(monkeypatch, opened):
    monkeypatch.setattr(launch.torch.cuda, 'is_available', lambda: False)
    cfg = _launched_cfg()
    launch.prepare_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert opened == ['gloo']
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None)
    # the rest of env_cfg is kept
    assert cfg.env_cfg.mp_cfg.mp_start_method == 'fork'


def test_nccl_config_on_a_cpu_machine_is_an_error(monkeypatch, opened):
    monkeypatch.setattr(launch.torch.cuda, 'is_available', lambda: False)
    cfg = _launched_cfg()
    cfg.env_cfg.dist_cfg.backend = 'nccl'
    with pytest.raises(ValueError, match='CUDA is not available'):
        launch.prepare_distributed(cfg)
    assert opened == []


def test_no_launcher_changes_nothing(opened):
    cfg = _launched_cfg('none')
    launch.prepare_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'auto'
    assert opened == [] and cfg.get('model_wrapper_cfg') is None
