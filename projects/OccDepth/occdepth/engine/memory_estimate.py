"""Device memory of one training step, from the tensors it keeps.

A step holds, at its peak (the start of the backward pass):

* the parameters, their gradients and the optimiser state;
* the input batch on the device;
* every tensor saved for the backward pass (counted through
  ``torch.autograd.graph.saved_tensors_hooks``; several views of one storage
  count once, and saved parameters are not counted again);
* the tables of the camera caches;
* the largest single temporary (the largest tensor any operation of the
  forward, the losses or the backward creates).

The sum estimates ``torch.cuda.max_memory_allocated`` of a step. It leaves
out the CUDA context (~0.5 GiB per process), cuDNN / cuBLAS workspaces,
allocator fragmentation and the temporaries that coexist with the largest
one; with activation checkpointing (``with_cp``) the inputs kept by the
checkpointed regions are not seen. Nothing needs to run for real: on the
``meta`` device tensors have shapes and dtypes but no data, so a
full-resolution step costs seconds and no memory. Autocast has no meta
backend: mixed precision is CUDA's autocast emulated by
:class:`EmulatedAutocast` (its casts, above autograd, so that the saved
tensors are the casts autocast would save).
"""
import contextlib
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, Iterator, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from projects.OccDepth.occdepth.models.utils.geometry import CameraCache

GIB = 2**30


def _storage_key(t: Tensor) -> int:
    """Identity of ``t``'s storage (also for meta tensors, whose data
    pointers are all 0)."""
    return t.untyped_storage()._cdata


def _storage_bytes(t: Tensor) -> int:
    return t.untyped_storage().nbytes()


class SavedTensors:
    """Bytes of the distinct storages saved for backward inside the context.

    Args:
        exclude: Tensors not to count (the parameters: counted apart).
    """

    def __init__(self, exclude: Iterable[Tensor] = ()) -> None:
        self._exclude = {_storage_key(t) for t in exclude}
        self._storages: Dict[int, int] = {}
        self._keep = []  # the storages stay alive: their keys stay unique

    def _pack(self, t: Tensor) -> Tensor:
        key = _storage_key(t)
        if key not in self._exclude and key not in self._storages:
            self._storages[key] = _storage_bytes(t)
            self._keep.append(t)
        return t

    @contextlib.contextmanager
    def counting(self) -> Iterator['SavedTensors']:
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self

    @property
    def nbytes(self) -> int:
        return sum(self._storages.values())

    def release(self) -> None:
        self._keep.clear()


class LargestOutput(TorchDispatchMode):
    """Records the largest tensor any operation returns."""

    def __init__(self) -> None:
        super().__init__()
        self.nbytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, Tensor):
                self.nbytes = max(self.nbytes, t.numel() * t.element_size())
        return out


# Operations CUDA autocast runs in the low-precision dtype, in fp32, and in
# the widest input type (torch.amp docs, "CUDA Ops that can autocast to
# float16 / to float32 / promote to the widest input type"), by the names
# under which they reach ``__torch_function__``.
LOW_PRECISION_OPS = frozenset({
    'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d',
    'conv_transpose3d', 'linear', 'matmul', '__matmul__', 'mm', 'mv', 'bmm',
    'addmm', 'addmv', 'addbmm', 'baddbmm', 'einsum', 'prelu', 'chain_matmul'
})
FP32_OPS = frozenset({
    'softmax', 'log_softmax', 'softmin', 'cross_entropy', 'nll_loss',
    'binary_cross_entropy_with_logits', 'kl_div', 'mse_loss', 'l1_loss',
    'smooth_l1_loss', 'log', 'log1p', 'log2', 'log10', 'exp', 'expm1', 'pow',
    '__pow__', '__rpow__', '__rdiv__', '__rtruediv__', 'reciprocal', 'rsqrt',
    'norm', 'linalg_vector_norm', 'normalize', 'sum', 'prod', 'cumsum',
    'cumprod', 'layer_norm', 'group_norm', 'cosine_similarity', 'softplus',
    'cdist', 'dist', 'renorm'
})
WIDEST_OPS = frozenset({
    'addcmul', 'addcdiv', 'grid_sample', 'index_put', 'scatter_add', 'dot',
    'tensordot', 'cross', 'atan2', 'bilinear'
})


class EmulatedAutocast(TorchFunctionMode):
    """CUDA autocast's casts, on any device (the meta device has none).

    Above autograd, like autocast: the fp32 inputs of
    :data:`LOW_PRECISION_OPS` are cast to ``dtype`` (autograd then saves
    the casts), the half inputs of :data:`FP32_OPS` to fp32, and the
    inputs of :data:`WIDEST_OPS` to the widest floating type among them.
    float64 and in-place operations are left alone, as by autocast. Every
    use of a weight makes its own cast (autocast keeps one per weight and
    forward: equal when each weight is used once).

    Args:
        dtype: ``torch.float16`` or ``torch.bfloat16``.
    """

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.enabled = [True]
        self.active = False

    def __enter__(self):
        self.active = True
        return super().__enter__()

    def __exit__(self, *exc):
        self.active = False
        return super().__exit__(*exc)

    @property
    def on(self) -> bool:
        """Whether autocast would be on here."""
        return self.active and self.enabled[-1]

    def _cast(self, value, dtype: torch.dtype, source: tuple):
        return torch.utils._pytree.tree_map(
            lambda t: t.to(dtype)
            if isinstance(t, Tensor) and t.dtype in source else t, value)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', '')
        if self.enabled[-1]:
            if name in LOW_PRECISION_OPS:
                args, kwargs = self._cast((args, kwargs), self.dtype,
                                          (torch.float32, ))
            elif name in FP32_OPS:
                args, kwargs = self._cast((args, kwargs), torch.float32,
                                          (torch.float16, torch.bfloat16))
            elif name in WIDEST_OPS:
                floats = [
                    t.dtype
                    for t in torch.utils._pytree.tree_leaves((args, kwargs))
                    if isinstance(t, Tensor) and t.is_floating_point()
                ]
                if torch.float32 in floats and self.dtype in floats:
                    args, kwargs = self._cast((args, kwargs), torch.float32,
                                              (self.dtype, ))
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_autocast(
        emulate: Optional[EmulatedAutocast] = None) -> Iterator[None]:
    """Let ``torch.autocast('meta', ...)`` and
    ``torch.is_autocast_enabled('meta')`` run.

    The losses switch autocast off around their fp32 sums with
    ``torch.autocast(x.device.type, enabled=False)``, and some ops ask
    whether autocast is on; autocast knows no meta device. Inside this
    context such a region is the CPU's, which changes nothing for meta
    tensors, and it switches ``emulate`` (if given) on or off as it would
    switch autocast; ``is_autocast_enabled('meta')`` says whether
    ``emulate`` is on.
    """
    original = torch.autocast
    original_enabled = torch.is_autocast_enabled

    def is_autocast_enabled(*args) -> bool:
        if args and args[0] == 'meta':
            return emulate is not None and emulate.on
        return original_enabled(*args)

    class _Autocast(original):

        def __init__(self, device_type: str, *args, **kwargs) -> None:
            self._meta = device_type == 'meta'
            super().__init__('cpu' if self._meta else device_type, *args,
                             **kwargs)

        def __enter__(self):
            if self._meta and emulate is not None:
                emulate.enabled.append(self._enabled)
            return super().__enter__()

        def __exit__(self, *exc):
            if self._meta and emulate is not None:
                emulate.enabled.pop()
            return super().__exit__(*exc)

    torch.autocast = _Autocast
    torch.is_autocast_enabled = is_autocast_enabled
    try:
        yield
    finally:
        torch.autocast = original
        torch.is_autocast_enabled = original_enabled


@dataclass
class MemoryEstimate:
    """Bytes of each part of a training step (see the module docstring)."""
    parameters: int
    gradients: int
    optimizer_state: int
    inputs: int
    saved_activations: int
    camera_caches: int
    largest_transient: int

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_gib(self) -> Dict[str, float]:
        parts = {name: value / GIB for name, value in asdict(self).items()}
        parts['total'] = self.total / GIB
        return parts


def _tensor_bytes(value) -> int:
    leaves = torch.utils._pytree.tree_leaves(value)
    seen, total = set(), 0
    for t in leaves:
        if isinstance(t, Tensor) and _storage_key(t) not in seen:
            seen.add(_storage_key(t))
            total += _storage_bytes(t)
    return total


def camera_cache_bytes(model: nn.Module) -> int:
    """Bytes of the tables held by the model's camera caches."""
    total = 0
    for module in model.modules():
        for value in vars(module).values():
            if isinstance(value, CameraCache):
                total += _tensor_bytes(list(value._entries.values()))
    return total


def estimate_training_step(
        model: nn.Module,
        data: Dict,
        optimizer: torch.optim.Optimizer,
        amp: Optional[torch.dtype] = None,
        loss_fn: Optional[Callable] = None) -> MemoryEstimate:
    """Run one training step of ``model`` and count what it keeps.

    Args:
        model: The model, on the device of ``data`` (``meta``: no compute,
            no memory).
        data: Keyword arguments of the model's forward (preprocessed).
        optimizer: An optimiser of ``model``'s parameters; its state after
            the step is counted (gradient clipping, whose only tensor is
            the norm, is left out).
        amp: The dtype of CUDA's autocast, emulated by
            :class:`EmulatedAutocast` around the forward and the losses; None
            for fp32.
        loss_fn: ``loss_fn(model, data) -> scalar``; default: the sum of
            ``model(**data, mode='loss')``.

    Returns:
        The :class:`MemoryEstimate` of the step.
    """
    params = list(model.parameters())
    if loss_fn is None:

        def loss_fn(model, data):
            return sum(model(**data, mode='loss').values())

    saved = SavedTensors(exclude=params)
    largest = LargestOutput()
    emulate = EmulatedAutocast(amp) if amp is not None else None
    model.train()
    with meta_autocast(emulate), largest:
        with saved.counting(), emulate or contextlib.nullcontext():
            loss = loss_fn(model, data)
        activations = saved.nbytes
        loss.backward()
        optimizer.step()
    saved.release()
    trainable = [p for p in params if p.requires_grad]
    state = optimizer.state
    samples = data.get('data_samples') or ()
    return MemoryEstimate(
        parameters=_tensor_bytes(params),
        gradients=_tensor_bytes(
            [p.grad for p in trainable if p.grad is not None]),
        optimizer_state=_tensor_bytes(
            [state[p] for p in trainable if p in state]),
        inputs=_tensor_bytes(
            [data.get('inputs'), [list(s.values()) for s in samples]]),
        saved_activations=activations,
        camera_caches=camera_cache_bytes(model),
        largest_transient=largest.nbytes)


def move_batch(data: Dict, device: Union[str, torch.device]) -> Dict:
    """``data`` (a preprocessed batch) with its images and the tensor
    fields of its data samples on ``device``; metainfo stays on the host."""
    data['inputs'] = {
        key: value.to(device) if isinstance(value, Tensor) else value
        for key, value in data['inputs'].items()
    }
    for sample in data.get('data_samples') or ():
        for key, value in list(sample.items()):
            if isinstance(value, Tensor):
                setattr(sample, key, value.to(device))
    return data


def estimate_config(cfg,
                    img_hw: Tuple[int, int],
                    batch_size: int = 1,
                    amp: Optional[torch.dtype] = None,
                    device: str = 'meta') -> MemoryEstimate:
    """:func:`estimate_training_step` of a config's model and optimiser on a
    synthetic batch (``engine/profiling.synthetic_batch``) of ``img_hw``
    images and the config's grid."""
    from mmdet3d.registry import MODELS
    from mmengine.optim import build_optim_wrapper

    from projects.OccDepth.occdepth.engine.profiling import synthetic_batch
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(
        synthetic_batch(model, img_hw, batch_size), True)
    model.to(device)
    data = move_batch(data, torch.device(device))
    optim_cfg = cfg.get('optim_wrapper',
                        dict(optimizer=dict(type='AdamW', lr=2e-4)))
    optimizer = build_optim_wrapper(model, optim_cfg).optimizer
    return estimate_training_step(model, data, optimizer, amp)


def format_estimates(estimates: Dict[str, MemoryEstimate]) -> str:
    """A markdown table, one column per estimate, in GiB."""
    names = list(estimates)
    rows = [
        '| part | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)
    ]
    parts = list(next(iter(estimates.values())).as_gib())
    for part in parts:
        values = [f'{estimates[n].as_gib()[part]:.2f}' for n in names]
        rows.append(f'| {part} | ' + ' | '.join(values) + ' |')
    return '\n'.join(rows)
