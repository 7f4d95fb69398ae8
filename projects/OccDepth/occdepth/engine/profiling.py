"""Timing and memory instruments used by ``tools/analysis_tools/benchmark``.

* :class:`PeakMemory` reads the peak memory of the process: the kernel's
  high-water mark of the resident set (``VmHWM``, reset through
  ``/proc/self/clear_refs``; ``ru_maxrss`` where that is unavailable) on the
  CPU, ``torch.cuda.max_memory_allocated`` on a GPU.
* :class:`PartTimer` sums the wall time spent in named parts of a model
  during one step: sub-modules (forward hooks) and plain functions or bound
  methods (temporarily wrapped attributes), plus explicit sections such as
  the backward pass. Only the forward phase is attributed to module parts,
  so activation checkpointing's recomputation counts towards the backward.
  The memory in use when a part returns is recorded too (the largest value
  of the step), which shows where the activations of a step accumulate.
* :func:`synthetic_batch` makes packed stereo samples with the KITTI
  example calibration for any image size and grid; :func:`measure` times a step
  after warm-up, with its peak memory and the load average around it.
"""
import os
import re
import resource
import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config
from torch import nn

from projects.OccDepth.occdepth.datasets.kitti_calibration import \
    kitti_example_calibration

_STATUS = '/proc/self/status'
_CLEAR_REFS = '/proc/self/clear_refs'
_STATM = '/proc/self/statm'


def synchronize(device: torch.device) -> None:
    """Wait for the queued kernels of ``device`` (no-op on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def parse_device(text: str) -> torch.device:
    """The ``--device`` of the analysis tools: ``cpu``, ``cuda`` or
    ``cuda:N``, checked.

    Raises:
        ValueError: if ``text`` is not such a device, or CUDA is asked for
            where it is not available.
    """
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise ValueError(f'--device {text}: {exc}') from exc
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f"--device must be 'cpu' or 'cuda[:N]', got {text}")
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'--device {text}: CUDA is not available (torch '
                         f'{torch.__version__}, CUDA build: '
                         f'{torch.version.cuda or "none"})')
    return device


def current_mib(device: torch.device) -> float:
    """Memory in use now: resident set (CPU) or allocated tensors (GPU)."""
    if device.type == 'cuda':
        return torch.cuda.memory_allocated(device) / 2**20
    try:
        with open(_STATM) as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return float('nan')


class PeakMemory:
    """Peak memory in MiB since the last :meth:`reset`.

    Args:
        device: The device the model runs on.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.source = 'cuda.max_memory_allocated'
        if device.type != 'cuda':
            self.source = 'VmHWM' if self._reset_hwm() else 'ru_maxrss'

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open(_CLEAR_REFS, 'w') as f:
                f.write('5')
            return True
        except OSError:
            return False

    @staticmethod
    def _status_kib(key: str) -> Optional[int]:
        try:
            with open(_STATUS) as f:
                for line in f:
                    if line.startswith(key + ':'):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def reset(self) -> None:
        """Start a new measurement window."""
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.source == 'VmHWM':
            self._reset_hwm()

    def peak_mib(self) -> float:
        """Peak since :meth:`reset` (``ru_maxrss``: since process start)."""
        if self.device.type == 'cuda':
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.source == 'VmHWM':
            kib = self._status_kib('VmHWM')
            if kib is not None:
                return kib / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PartTimer:
    """Per-step wall time of named parts of a model.

    Args:
        model: The model whose sub-modules are timed.
        module_parts: ``{label: [regex, ...]}``; every sub-module whose
            qualified name fully matches one of the patterns counts towards
            ``label``. Nested matches of one label are counted once.
        callable_parts: ``{label: [(owner, attribute), ...]}``; the
            attribute (a function of a module, a bound method of an
            instance) is wrapped while the timer is installed. A call made
            inside another timed callable is attributed to the outer one.
        device: Device to synchronise before reading the clock.
    """

    def __init__(
        self,
        model: nn.Module,
        module_parts: Dict[str, Sequence[str]],
        callable_parts: Optional[Dict[str, Sequence[tuple]]] = None,
        device: torch.device = torch.device('cpu')
    ) -> None:
        self.model = model
        self.module_parts = {
            label: [re.compile(p) for p in patterns]
            for label, patterns in module_parts.items()
        }
        self.callable_parts = dict(callable_parts or {})
        self.device = device
        self.labels = list(self.module_parts) + list(self.callable_parts)
        self.steps: List[Dict[str, float]] = []
        self.memory_steps: List[Dict[str, float]] = []
        self._current: Dict[str, float] = {}
        self._memory: Dict[str, float] = {}
        self._depth: Dict[str, int] = {}
        self._start: Dict[str, float] = {}
        self._callable_depth = 0
        self._handles: List[Any] = []
        self._patched: List[tuple] = []
        self.forward_phase = True

    def _enter(self, label: str) -> None:
        depth = self._depth.get(label, 0)
        if depth == 0:
            synchronize(self.device)
            self._start[label] = time.perf_counter()
        self._depth[label] = depth + 1

    def _exit(self, label: str) -> None:
        self._depth[label] -= 1
        if self._depth[label] == 0:
            synchronize(self.device)
            elapsed = time.perf_counter() - self._start.pop(label)
            self._current[label] = self._current.get(label, 0.0) + elapsed
            self._memory[label] = max(
                self._memory.get(label, 0.0), current_mib(self.device))

    def _module_hooks(self, label: str) -> tuple:

        def pre_hook(module: nn.Module, args: Any) -> None:
            if self.forward_phase:
                self._enter(label)

        def post_hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.forward_phase and self._depth.get(label, 0):
                self._exit(label)

        return pre_hook, post_hook

    def _wrap(self, label: str, func: Callable) -> Callable:

        def timed(*args, **kwargs):
            if self._callable_depth:
                return func(*args, **kwargs)
            self._callable_depth += 1
            self._enter(label)
            try:
                return func(*args, **kwargs)
            finally:
                self._exit(label)
                self._callable_depth -= 1

        return timed

    def install(self) -> None:
        """Register the hooks and wrap the callables."""
        for name, module in self.model.named_modules():
            for label, patterns in self.module_parts.items():
                if any(p.fullmatch(name) for p in patterns):
                    pre, post = self._module_hooks(label)
                    self._handles.append(module.register_forward_pre_hook(pre))
                    self._handles.append(module.register_forward_hook(post))
        for label, targets in self.callable_parts.items():
            for owner, attr in targets:
                original = getattr(owner, attr)
                had_own = attr in vars(owner)
                self._patched.append((owner, attr, original, had_own))
                setattr(owner, attr, self._wrap(label, original))

    def remove(self) -> None:
        """Undo :meth:`install`."""
        for handle in self._handles:
            handle.remove()
        for owner, attr, original, had_own in reversed(self._patched):
            if had_own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)
        self._handles, self._patched = [], []

    @contextmanager
    def installed(self) -> Iterator['PartTimer']:
        """Context manager around :meth:`install` / :meth:`remove`."""
        self.install()
        try:
            yield self
        finally:
            self.remove()

    @contextmanager
    def section(self, label: str) -> Iterator[None]:
        """Time a block as ``label``; module parts pause inside it."""
        if label not in self.labels:
            self.labels.append(label)
        previous, self.forward_phase = self.forward_phase, False
        self._enter(label)
        try:
            yield
        finally:
            self._exit(label)
            self.forward_phase = previous

    def start_step(self) -> None:
        """Begin a new step."""
        self._current, self._memory = {}, {}

    def end_step(self, keep: bool = True) -> None:
        """Close the step; ``keep=False`` drops it (warm-up)."""
        if keep:
            self.steps.append(self._current)
            self.memory_steps.append(self._memory)
        self._current, self._memory = {}, {}

    def medians(self) -> Dict[str, float]:
        """Median seconds per step of every label seen in a kept step."""
        return self._median(self.steps)

    def memory_medians(self) -> Dict[str, float]:
        """Median of the memory in use (MiB) when each part returns."""
        return self._median(self.memory_steps)

    def _median(self, steps: List[Dict[str, float]]) -> Dict[str, float]:
        result = {}
        for label in self.labels:
            values = [s[label] for s in steps if label in s]
            if values:
                result[label] = statistics.median(values)
        return result


def synthetic_batch(model,
                    img_hw: Sequence[int],
                    batch: int,
                    seed: int = 0) -> Dict:
    """Packed stereo samples with the KITTI example rig and random targets.

    The rig is ``kitti_example_calibration`` scaled to ``img_hw``.
    """
    rng = np.random.default_rng(seed)
    h, w = img_hw
    cam2img, lidar2cam = kitti_example_calibration(img_hw)
    grid = tuple(model.grid_size)
    coarse = tuple(max(n // 8, 1) for n in grid)
    imgs, samples = [], []
    for i in range(batch):
        imgs.append(
            torch.from_numpy(rng.integers(0, 256, (2, 3, h, w), np.uint8)))
        sample = Det3DDataSample(
            metainfo=dict(
                cam2img=cam2img,
                lidar2cam=lidar2cam,
                ida_mat=np.eye(3),
                img_shape=(h, w),
                voxel_origin=model.voxel_origin,
                voxel_size=model.voxel_size,
                grid_size=grid,
                sequence='00',
                frame_id=f'{i:06d}'))
        gt = rng.integers(0, model.occ_head.num_classes, grid, np.uint8)
        gt[rng.random(grid) < 0.1] = 255
        sample.gt_occ = torch.from_numpy(gt)
        sample.gt_occ_crp = torch.from_numpy(
            rng.integers(0, model.occ_head.num_classes, coarse, np.uint8))
        sample.gt_depth = torch.from_numpy(
            rng.uniform(0, 60, (h, w)).astype(np.float32))
        samples.append(sample)
    return dict(inputs=dict(imgs=imgs), data_samples=samples)


def train_optim_cfg(cfg: Config, amp: Optional[torch.dtype]) -> Dict:
    """The config's optimiser wrapper; with fp16 autocast the
    ``AmpOptimWrapper`` of ``tools/train.py --amp``."""
    optim_cfg = dict(
        cfg.get('optim_wrapper', dict(optimizer=dict(type='AdamW', lr=2e-4))))
    if amp == torch.float16:
        optim_cfg.update(
            type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16')
    return optim_cfg


def measure(step, repeats: int, warmup: int, timer: Optional[PartTimer],
            memory: PeakMemory, device: torch.device) -> Dict:
    """Run ``step`` ``warmup + repeats`` times; times, memory, load."""
    times, peaks, loads = [], [], []
    for i in range(warmup + repeats):
        keep = i >= warmup
        memory.reset()
        if timer is not None:
            timer.start_step()
        load = os.getloadavg()[0]
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        elapsed = time.perf_counter() - start
        if timer is not None:
            timer.end_step(keep)
        if keep:
            times.append(elapsed)
            peaks.append(memory.peak_mib())
            loads.append(max(load, os.getloadavg()[0]))
    return dict(
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        peak_mib=max(peaks),
        load=max(loads),
        parts=timer.medians() if timer is not None else {},
        part_memory=timer.memory_medians() if timer is not None else {})
