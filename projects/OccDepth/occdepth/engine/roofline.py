"""Per-part roofline of an OccDepth step (``tools/analysis_tools/roofline``).

For every part of the model (the parts of ``tools/analysis_tools/
get_flops.py`` with the 2D backbone split into its encoder and decoder, and
in training the backward pass of each part as its own row) the roofline
reports the convolution / matrix-product work of the part, the time the part
takes in the step and how close that time is to the best the machine does
for the same calls:

* **GFLOP** counts 2 per multiply-add of every ``aten.convolution``,
  ``aten.convolution_backward``, ``mm``, ``addmm``, ``bmm`` and ``baddbmm``
  call the step makes, read from the calls themselves by a
  ``TorchDispatchMode`` (:class:`CallRecorder`). It therefore covers the
  model's memory ops (``models/ops/upsample_concat_conv.py``,
  ``bn_act_conv.py``), which call the convolutions and their backward
  themselves. Element-wise work, normalisation, reductions and
  ``grid_sample`` count 0. A backward convolution counts the forward's
  multiply-adds once for the input gradient and once for the weight
  gradient, whichever of them it computes; ``torch.utils.flop_counter``
  counts the same except for the weight gradient of a grouped convolution,
  which it multiplies by the number of groups (a depthwise one by its
  channels).
* **time** is the median over the timed steps of the part's wall time. The
  forward parts are timed by :class:`PartTracker` (module hooks and wrapped
  methods, as ``benchmark.py`` does); the backward pass by a pre-hook on
  every node of the autograd graph (:class:`BackwardClock`): the time from
  one node to the next node of another part belongs to the former's part.
  A node belongs to the part in whose forward it was created (its autograd
  sequence number lies in the part's range). ``other`` is the rest of the
  step (data preprocessing, code between the parts), ``graph hooks`` the
  time the clock takes to put its hooks on the graph.
* **conv+mm s** is the time of the part's counted calls inside the step and
  **rest** the part's time minus that: normalisation, activations,
  sampling, losses. The calls are timed one by one in separate instrumented
  steps (the same step under :class:`CallRecorder`), so that the timed
  steps run without per-call instrumentation.
* **ceiling s** sums, over the part's calls, the best time of the same call
  (shapes, strides, i.e. memory format, dtype, stride, padding, dilation,
  groups, transposition and, in the backward, which gradients it computes)
  when it runs alone, repeatedly, on the same threads, on random tensors of
  the same layout: the best the machine's kernels do for that part's calls.
  **efficiency** = ceiling / time; a part below
  :data:`EFFICIENCY_FLAG` is flagged. **conv efficiency** = ceiling /
  conv+mm time tells whether the calls themselves or the rest of the part
  fall short.
"""
import os
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from math import prod
from typing import (Any, Callable, Dict, Hashable, List, NamedTuple, Optional,
                    Sequence, Tuple)

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from projects.OccDepth.occdepth.engine.profiling import (PartTimer, PeakMemory,
                                                         measure, synchronize,
                                                         synthetic_batch,
                                                         train_optim_cfg)

aten = torch.ops.aten
COUNTED = (aten.convolution, aten.convolution_backward, aten.mm, aten.addmm,
           aten.bmm, aten.baddbmm)
EFFICIENCY_FLAG = 0.85
OTHER = 'other'
OTHER_BACKWARD = 'other backward'
OPTIMIZER = 'optimizer'
GRAPH_HOOKS = 'graph hooks'
STEP = 'step'
BACKWARD = 'backward'
_ACCUMULATE_GRAD = 'torch::autograd::AccumulateGrad'
PARTS = ('virtual stereo', '2D encoder', '2D decoder', 'Stereo-SFA',
         'OAD depth head', '3D UNet + CRP', 'full-res head', 'losses')


def backward_row(part: Optional[str]) -> str:
    """The row of the backward pass of ``part`` (None: outside the parts)."""
    return OTHER_BACKWARD if part is None else f'{part} backward'


def model_parts(model: nn.Module,
                train: bool) -> Tuple[Dict[str, List[str]], Dict[str, list]]:
    """The parts of an OccDepth model (:func:`part_order` orders them).

    ``full-res head`` is the SSC head's forward without its 3D UNet, which
    runs inside it as a part of its own: :class:`PartTracker` pauses the
    outer part meanwhile.

    Returns:
        ``(module_parts, callable_parts)`` for :class:`PartTracker`: the
        backbone's ``encode`` and ``decode`` (every view), the view
        transformer, the depth head, the 3D UNet with CRP, the rest of the
        3D head (``full-res head``: the output-resolution upsampling and
        heads) and, in training, the losses.
    """
    modules = {}
    if getattr(model, 'virtual_stereo', None) is not None:
        modules['virtual stereo'] = [r'virtual_stereo']
    modules['Stereo-SFA'] = [r'view_transformer']
    if model.depth_head is not None:
        modules['OAD depth head'] = [r'depth_head']
    modules['full-res head'] = [r'occ_head']
    modules['3D UNet + CRP'] = [
        r'occ_head\.(process_l1|process_l2|CP_mega_voxels|up_13_l2|up_12_l1)'
    ]
    callables = {
        '2D encoder': [(model.backbone, 'encode')],
        '2D decoder': [(model.backbone, 'decode')],
    }
    if train:
        losses = [(model.occ_head, 'loss'), (model, 'frustum_cells')]
        if model.depth_head is not None:
            losses.append((model.depth_head, 'loss'))
        callables['losses'] = losses
    return modules, callables


def part_order(modules: Dict, callables: Dict) -> List[str]:
    """Part names in the order of the step."""
    return [n for n in PARTS if n in modules or n in callables]


def row_names(parts: Sequence[str], train: bool) -> List[str]:
    """The rows of the table: forward parts, then backward, optimiser."""
    rows = list(parts) + [OTHER]
    if train:
        rows += [backward_row(p) for p in parts]
        rows += [OTHER_BACKWARD, OPTIMIZER, GRAPH_HOOKS]
    return rows


# --------------------------------------------------------------- FLOPs


def conv_flops(input_shape: Sequence[int], weight_shape: Sequence[int],
               output_shape: Sequence[int], transposed: bool) -> int:
    """2 x the multiply-adds of a convolution (zero padding included).

    Every output position of a convolution (every input position of a
    transposed one) takes ``prod(weight_shape)`` multiply-adds per sample:
    the weight is ``(C_out, C_in / groups, *k)`` (transposed:
    ``(C_in, C_out / groups, *k)``).
    """
    spatial = (input_shape if transposed else output_shape)[2:]
    return 2 * input_shape[0] * prod(spatial) * prod(weight_shape)


def call_flops(func: Any, args: Sequence, out: Any) -> int:
    """FLOPs of one counted call (see :data:`COUNTED`)."""
    packet = func.overloadpacket
    if packet is aten.convolution:
        x, weight, transposed = args[0], args[1], args[6]
        return conv_flops(x.shape, weight.shape, out.shape, transposed)
    if packet is aten.convolution_backward:
        grad_out, x, weight, transposed, mask = (args[0], args[1], args[2],
                                                 args[7], args[10])
        forward = conv_flops(x.shape, weight.shape, grad_out.shape, transposed)
        return forward * (int(bool(mask[0])) + int(bool(mask[1])))
    a, b = args[:2] if packet in (aten.mm, aten.bmm) else args[1:3]
    return 2 * prod(a.shape) * b.shape[-1]


# --------------------------------------------------------------- calls


class TensorSpec(NamedTuple):
    """What a kernel's speed depends on, of one tensor argument."""
    shape: Tuple[int, ...]
    stride: Tuple[int, ...]
    dtype: torch.dtype
    device: str


def _spec(value: Any) -> Any:
    if isinstance(value, Tensor):
        return TensorSpec(
            tuple(value.shape), tuple(value.stride()), value.dtype,
            str(value.device))
    if isinstance(value, (list, tuple)):
        return tuple(_spec(v) for v in value)
    return value


def call_key(func: Any, args: Sequence, kwargs: Dict) -> Hashable:
    """``(func, args, kwargs)`` with every tensor replaced by its spec."""
    return (func, _spec(args),
            tuple(sorted((k, _spec(v)) for k, v in kwargs.items())))


def _materialise(value: Any) -> Any:
    if isinstance(value, TensorSpec):
        size = 0
        if all(value.shape):
            size = 1 + sum(
                (n - 1) * s for n, s in zip(value.shape, value.stride))
        if value.dtype.is_floating_point:
            base = torch.randn(size, dtype=value.dtype, device=value.device)
        else:
            base = torch.zeros(size, dtype=value.dtype, device=value.device)
        return base.as_strided(value.shape, value.stride)
    if isinstance(value, tuple):
        return [_materialise(v) for v in value]
    return value


def replay(key: Hashable) -> Tuple[Any, list, dict]:
    """``(func, args, kwargs)`` of ``key`` on fresh random tensors laid out
    like those of the recorded call."""
    func, args, kwargs = key
    return func, _materialise(args), {k: _materialise(v) for k, v in kwargs}


def _layout(spec: TensorSpec) -> str:
    shape, dims = spec.shape, len(spec.shape)
    if dims not in (4, 5) or spec.stride == _strides(shape, range(dims)):
        return ''
    last = (0, ) + tuple(range(2, dims)) + (1, )
    return ' CL' if spec.stride == _strides(shape, last) else ' strided'


def _strides(shape: Sequence[int], order: Sequence[int]) -> Tuple[int, ...]:
    """Strides of ``shape`` stored with dims ``order`` outermost first."""
    strides, step = [0] * len(shape), 1
    for dim in reversed(list(order)):
        strides[dim] = step
        step *= max(shape[dim], 1)
    return tuple(strides)


def describe(key: Hashable) -> str:
    """A short human-readable summary of a call key."""
    func, args, _ = key
    name = func.overloadpacket.__name__
    if name not in ('convolution', 'convolution_backward'):
        tensors = [a for a in args if isinstance(a, TensorSpec)]
        operands = tensors[-2:]
        return f'{name} ' + ' x '.join(
            str(tuple(t.shape)) for t in operands) + _layout(operands[0])
    backward = name == 'convolution_backward'
    x, weight = (args[1], args[2]) if backward else (args[0], args[1])
    stride, padding, dilation, transposed = args[4:8] if backward \
        else args[3:7]
    groups = args[9] if backward else args[8]
    dims = len(weight.shape) - 2
    kernel = 'x'.join(str(k) for k in weight.shape[2:])
    out_ch = weight.shape[1] * groups if transposed else weight.shape[0]
    text = (f'{"convT" if transposed else "conv"}{dims}d {x.shape[1]}->'
            f'{out_ch} k{kernel} s{_compact(stride)} p{_compact(padding)}')
    if any(d != 1 for d in dilation):
        text += f' d{_compact(dilation)}'
    if groups != 1:
        text += f' g{groups}'
    text += f' in {tuple(x.shape)}{_layout(x)}'
    if backward:
        grads = [n for n, m in zip(('input', 'weight', 'bias'), args[10]) if m]
        text = 'grad ' + '+'.join(grads) + ' of ' + text
    return text


def _compact(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else 'x'.join(
        str(v) for v in values)


class CallRecord(NamedTuple):
    """One counted call of a step: what, where, how much, how long."""
    key: Hashable
    row: str
    flops: int
    seconds: float


class CallRecorder(TorchDispatchMode):
    """Records every counted call with its row, FLOPs and time.

    Args:
        where: Returns the row of a call made now (:meth:`PartTracker.row`).
        device: Device to synchronise around each timed call.
    """

    def __init__(
        self,
        where: Callable[[], str],
        device: torch.device = torch.device('cpu')
    ) -> None:
        super().__init__()
        self.where = where
        self.device = device
        self.calls: List[CallRecord] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.overloadpacket not in COUNTED:
            return func(*args, **kwargs)
        synchronize(self.device)
        start = time.perf_counter()
        out = func(*args, **kwargs)
        synchronize(self.device)
        seconds = time.perf_counter() - start
        self.calls.append(
            CallRecord(
                call_key(func, args, kwargs), self.where(),
                call_flops(func, args, out), seconds))
        return out


def best_alone_seconds(keys: Sequence[Hashable], repeats: int, warmup: int,
                       device: torch.device) -> Dict[Hashable, float]:
    """Best time of every call run alone: ``warmup`` untimed calls, then the
    minimum of ``repeats`` timed ones, on the current torch threads."""
    if repeats < 1:
        raise ValueError(f'repeats must be at least 1, got {repeats}')
    best = {}
    with torch.no_grad():
        for key in keys:
            func, args, kwargs = replay(key)
            times = []
            for i in range(warmup + repeats):
                synchronize(device)
                start = time.perf_counter()
                func(*args, **kwargs)
                synchronize(device)
                if i >= warmup:
                    times.append(time.perf_counter() - start)
            best[key] = min(times)
    return best


# --------------------------------------------------------------- parts


class PartTracker(PartTimer):
    """A :class:`PartTimer` whose parts exclude each other and that knows
    which part runs now and which autograd nodes each part created.

    A part entered inside another pauses the outer one, so that every
    moment of the step counts for one part at most and the innermost part
    is the current one. The autograd sequence numbers taken at a part's
    first entry and last exit bound the nodes its forward created, so that
    in the backward pass the node being evaluated names the part
    (:meth:`part_of`). Sections (backward, optimiser) are timed as by
    :class:`PartTimer`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.parts = set(self.labels)
        self.stack: List[str] = []
        self.intervals: List[Tuple[int, int, str]] = []
        self._first: Dict[str, int] = {}
        self.phase: Optional[str] = None

    def _clock(self) -> float:
        synchronize(self.device)
        return time.perf_counter()

    def _enter(self, label: str) -> None:
        if label not in self.parts:
            super()._enter(label)
            return
        depth = self._depth.get(label, 0)
        self._depth[label] = depth + 1
        if depth:
            return
        now = self._clock()
        if self.stack:
            outer = self.stack[-1]
            self.add(outer, now - self._start[outer])
        self.stack.append(label)
        self._start[label] = now
        self._first[label] = torch.autograd._get_sequence_nr()

    def _exit(self, label: str) -> None:
        if label not in self.parts:
            super()._exit(label)
            return
        self._depth[label] -= 1
        if self._depth[label]:
            return
        now = self._clock()
        self.add(label, now - self._start.pop(label))
        self.stack.pop()
        if self.stack:
            self._start[self.stack[-1]] = now
        self.intervals.append(
            (self._first.pop(label), torch.autograd._get_sequence_nr(), label))

    def add(self, label: str, seconds: float) -> None:
        """Add ``seconds`` to ``label`` in the current step."""
        if label not in self.labels:
            self.labels.append(label)
        self._current[label] = self._current.get(label, 0.0) + seconds

    def start_step(self) -> None:
        super().start_step()
        self.stack, self.intervals, self.phase = [], [], None

    def part_of(self, sequence_nr: int) -> Optional[str]:
        """The innermost part whose forward created the node numbered
        ``sequence_nr`` in this step, or None."""
        found, start = None, -1
        for first, end, label in self.intervals:
            if first <= sequence_nr < end and first > start:
                found, start = label, first
        return found

    def row(self) -> str:
        """The row of work done now: the current part in the forward phase,
        the part of the autograd node being evaluated in the backward."""
        if self.phase == BACKWARD:
            node = torch._C._current_autograd_node()
            return backward_row(None if node is
                                None else self.part_of(node._sequence_nr()))
        if self.phase == OPTIMIZER:
            return OPTIMIZER
        return self.stack[-1] if self.stack else OTHER


def graph_nodes(roots: Sequence[Tensor]) -> List[Any]:
    """Every autograd node that the backward of ``roots`` can reach."""
    queue = [t.grad_fn for t in roots if t.grad_fn is not None]
    seen = set(queue)
    for node in queue:
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                queue.append(child)
    return queue


class BackwardClock:
    """Backward wall time per part, from a pre-hook on every graph node.

    The time from a node's start to the start of the next node of another
    row goes to the former's row; gradient accumulation into the parameters
    (``AccumulateGrad`` nodes) stays with the node that produced the
    gradient. Use as a context manager around the backward call.

    Args:
        tracker: Gives each node's part and receives the times.
        roots: The tensors the backward starts from.
        device: Device to synchronise when the row changes.
    """

    def __init__(self, tracker: PartTracker, roots: Sequence[Tensor],
                 device: torch.device) -> None:
        self.tracker, self.device = tracker, device
        self.current, self.start = OTHER_BACKWARD, 0.0
        hooks = {}
        for node in graph_nodes(roots):
            if node.name() == _ACCUMULATE_GRAD:
                continue
            row = backward_row(tracker.part_of(node._sequence_nr()))
            if row not in hooks:
                hooks[row] = self._hook(row)
            node.register_prehook(hooks[row])

    def _hook(self, row: str) -> Callable:

        def prehook(grad_outputs: Any) -> None:
            if row != self.current:
                self._switch(row)

        return prehook

    def _switch(self, row: str) -> None:
        synchronize(self.device)
        now = time.perf_counter()
        self.tracker.add(self.current, now - self.start)
        self.current, self.start = row, now

    def __enter__(self) -> 'BackwardClock':
        synchronize(self.device)
        self.current, self.start = OTHER_BACKWARD, time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._switch(OTHER_BACKWARD)


# --------------------------------------------------------------- rows


@dataclass
class Row:
    """One row of the roofline table (times in seconds per step)."""
    name: str
    flops: int
    seconds: float
    conv_seconds: float
    ceiling_seconds: float

    @property
    def rest_seconds(self) -> float:
        """Time of the part outside its counted calls."""
        return self.seconds - self.conv_seconds

    @property
    def rate(self) -> Optional[float]:
        """Achieved FLOP/s of the part."""
        return self.flops / self.seconds if self.seconds > 0 else None

    @property
    def ceiling_rate(self) -> Optional[float]:
        """FLOP/s of the part's calls at their best-alone times."""
        if self.ceiling_seconds > 0:
            return self.flops / self.ceiling_seconds
        return None

    @property
    def efficiency(self) -> Optional[float]:
        """Ceiling time / part time (None without counted calls)."""
        if self.ceiling_seconds > 0 and self.seconds > 0:
            return self.ceiling_seconds / self.seconds
        return None

    @property
    def conv_efficiency(self) -> Optional[float]:
        """Ceiling time / in-step time of the counted calls."""
        if self.ceiling_seconds > 0 and self.conv_seconds > 0:
            return self.ceiling_seconds / self.conv_seconds
        return None

    @property
    def flagged(self) -> bool:
        """Whether the part has counted calls and is below the flag."""
        return self.efficiency is not None and \
            self.efficiency < EFFICIENCY_FLAG

    def as_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        for name in ('rest_seconds', 'rate', 'ceiling_rate', 'efficiency',
                     'conv_efficiency', 'flagged'):
            out[name] = getattr(self, name)
        return out


def roofline_rows(names: Sequence[str], seconds: Dict[str, float],
                  calls: Sequence[CallRecord], conv_seconds: Dict[str, float],
                  best: Dict[Hashable, float]) -> List[Row]:
    """The rows ``names`` from part times, calls and best-alone times.

    Args:
        names: Row names, in table order.
        seconds: Time of each row in the step.
        calls: The counted calls of one step, each with its row.
        conv_seconds: In-step time of the counted calls of each row.
        best: Best-alone time of every call key.

    Raises:
        ValueError: A call or time belongs to a row not in ``names``.
    """
    flops: Dict[str, int] = defaultdict(int)
    ceiling: Dict[str, float] = defaultdict(float)
    for call in calls:
        flops[call.row] += call.flops
        ceiling[call.row] += best[call.key]
    unknown = (set(flops) | set(seconds) | set(conv_seconds)) - set(names)
    if unknown:
        raise ValueError(f'rows {sorted(unknown)} are not among {names}')
    return [
        Row(name, flops[name], seconds.get(name, 0.0),
            conv_seconds.get(name, 0.0), ceiling[name]) for name in names
    ]


def total_row(rows: Sequence[Row], step_seconds: float) -> Row:
    """The whole step: sums of the rows, the median step time."""
    return Row('total', sum(r.flops for r in rows), step_seconds,
               sum(r.conv_seconds for r in rows),
               sum(r.ceiling_seconds for r in rows))


def _fmt(value: Optional[float], spec: str) -> str:
    return '-' if value is None else format(value, spec)


def markdown_table(rows: Sequence[Row]) -> str:
    """The roofline as a Markdown table (``total`` last)."""
    lines = [
        '| part | GFLOP | time s | GFLOP/s | conv+mm s | rest s | '
        'ceiling s | ceiling GFLOP/s | efficiency | conv efficiency | |',
        '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        rate = None if r.rate is None else r.rate / 1e9
        ceiling_rate = None if r.ceiling_rate is None else \
            r.ceiling_rate / 1e9
        flag = f'below {EFFICIENCY_FLAG}' if r.flagged else ''
        lines.append(f'| {r.name} | {r.flops / 1e9:.2f} | {r.seconds:.3f} | '
                     f'{_fmt(rate, ".1f")} | {r.conv_seconds:.3f} | '
                     f'{r.rest_seconds:.3f} | {r.ceiling_seconds:.3f} | '
                     f'{_fmt(ceiling_rate, ".1f")} | '
                     f'{_fmt(r.efficiency, ".2f")} | '
                     f'{_fmt(r.conv_efficiency, ".2f")} | {flag} |')
    return '\n'.join(lines)


def call_summary(call_steps: Sequence[Sequence[CallRecord]],
                 best: Dict[Hashable, float]) -> List[Dict[str, Any]]:
    """Every distinct call of the step, largest in-step total time first.

    ``in_step_s`` is the median in-step time of one call over all its calls
    in the instrumented steps; ``count`` the calls per step.
    """
    first = call_steps[0]
    times: Dict[Hashable, List[float]] = defaultdict(list)
    for calls in call_steps:
        for call in calls:
            times[call.key].append(call.seconds)
    summary: Dict[Hashable, Dict[str, Any]] = {}
    for call in first:
        entry = summary.setdefault(
            call.key,
            dict(
                call=describe(call.key),
                rows=[],
                count=0,
                flops=call.flops,
                alone_s=best[call.key],
                in_step_s=statistics.median(times[call.key])))
        entry['count'] += 1
        if call.row not in entry['rows']:
            entry['rows'].append(call.row)
    return sorted(
        summary.values(),
        key=lambda e: e['count'] * e['in_step_s'],
        reverse=True)


def calls_table(summary: Sequence[Dict[str, Any]], top: int) -> str:
    """The ``top`` calls of :func:`call_summary` as a Markdown table."""
    lines = [
        '| call | rows | calls | GFLOP each | in step ms | alone ms | '
        'in step GFLOP/s | alone GFLOP/s |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for e in summary[:top]:
        lines.append(
            f"| {e['call']} | {', '.join(e['rows'])} | {e['count']} | "
            f"{e['flops'] / 1e9:.3f} | {1e3 * e['in_step_s']:.2f} | "
            f"{1e3 * e['alone_s']:.2f} | "
            f"{e['flops'] / e['in_step_s'] / 1e9:.1f} | "
            f"{e['flops'] / e['alone_s'] / 1e9:.1f} |")
    return '\n'.join(lines)


# --------------------------------------------------------------- driver


def environment(device: torch.device) -> Dict[str, Any]:
    """Torch version, CPU ISA, threads, CPU model and the load average."""
    cpu = 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(
        torch=torch.__version__,
        isa=torch.backends.cpu.get_cpu_capability(),
        threads=torch.get_num_threads(),
        cpu=cpu,
        device=str(device),
        load_average=list(os.getloadavg()))
    if device.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


class RooflineStep:
    """One training (or inference) step on a synthetic batch, in phases
    that :class:`PartTracker` and :class:`CallRecorder` can attribute.

    Args:
        model: The OccDepth model.
        batch: A batch of :func:`synthetic_batch`.
        tracker: The installed part tracker.
        optim_wrapper: The optimiser wrapper (training), or None (inference
            under ``no_grad``).
        device: The model's device.
    """

    def __init__(self, model: nn.Module, batch: Dict, tracker: PartTracker,
                 optim_wrapper: Any, device: torch.device) -> None:
        self.model, self.batch, self.tracker = model, batch, tracker
        self.optim_wrapper, self.device = optim_wrapper, device

    def __call__(self, clock: bool) -> None:
        """Run the step; ``clock``: time the backward parts."""
        tracker, model = self.tracker, self.model
        train = self.optim_wrapper is not None
        synchronize(self.device)
        start = time.perf_counter()
        with torch.set_grad_enabled(train):
            data = model.data_preprocessor(self.batch, train)
            outputs = model(**data, mode='loss' if train else 'predict')
        if train:
            loss = sum(outputs.values())
            timing = None
            if clock:
                with tracker.section(GRAPH_HOOKS):
                    timing = BackwardClock(tracker, [loss], self.device)
            tracker.phase = BACKWARD
            with tracker.section(BACKWARD):
                if timing is None:
                    self.optim_wrapper.backward(loss)
                else:
                    with timing:
                        self.optim_wrapper.backward(loss)
            tracker.phase = OPTIMIZER
            with tracker.section(OPTIMIZER):
                self.optim_wrapper.step()
                self.optim_wrapper.zero_grad()
            tracker.phase = None
        synchronize(self.device)
        tracker.add(STEP, time.perf_counter() - start)


def step_rows(step: Dict[str, float],
              names: Sequence[str]) -> Dict[str, float]:
    """The rows of one timed step; ``other`` is what the rows leave."""
    rows = {name: step.get(name, 0.0) for name in names if name != OTHER}
    rows[OTHER] = step[STEP] - sum(rows.values())
    return rows


def run_roofline(cfg: Any,
                 mode: str,
                 img_hw: Sequence[int],
                 repeats: int = 3,
                 warmup: int = 1,
                 ceiling_repeats: int = 5,
                 device: Optional[torch.device] = None) -> Dict:
    """Time, count and bound every part of one step of ``cfg``'s model.

    ``warmup + repeats`` timed steps (median of the ``repeats``), then
    ``repeats`` instrumented steps (the calls and their in-step times),
    then every distinct call alone: ``warmup`` untimed runs and the best of
    ``ceiling_repeats`` timed ones.

    Args:
        cfg: A loaded config with ``model`` (and ``optim_wrapper``).
        mode: ``'train'`` (forward, losses, backward, optimiser) or
            ``'infer'`` (``predict`` under ``no_grad``).
        img_hw: Image size of the synthetic stereo batch (batch 1).
        repeats: Timed and instrumented steps.
        warmup: Untimed steps first; untimed runs of each call alone.
        ceiling_repeats: Timed runs of each call alone.
        device: Where the model runs (default: the CPU).

    Returns:
        dict: ``rows`` (with the ``total`` row last), ``calls``, the step
        times, peak memory and the environment before and after.
    """
    from mmdet3d.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    if mode not in ('train', 'infer'):
        raise ValueError(f"mode must be 'train' or 'infer', got {mode!r}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f'repeats must be at least 1 and warmup at least '
                         f'0, got {repeats} and {warmup}')
    train = mode == 'train'
    device = device or torch.device('cpu')
    before = environment(device)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    batch = synthetic_batch(model, img_hw, 1)
    modules, callables = model_parts(model, train)
    parts = part_order(modules, callables)
    names = row_names(parts, train)
    tracker = PartTracker(model, modules, callables, device)
    optim = None
    if train:
        model.train()
        optim = build_optim_wrapper(model, train_optim_cfg(cfg, None))
    else:
        model.eval()
    step = RooflineStep(model, batch, tracker, optim, device)
    memory = PeakMemory(device)
    recorder = CallRecorder(tracker.row, device)
    call_steps = []
    with tracker.installed():
        timing = measure(lambda: step(clock=True), repeats, warmup, tracker,
                         memory, device)
        for _ in range(repeats):
            tracker.start_step()
            recorder.calls = []
            with recorder:
                step(clock=False)
            tracker.end_step(keep=False)
            call_steps.append(recorder.calls)
    per_step = [step_rows(s, names) for s in tracker.steps]
    seconds = {n: statistics.median(s[n] for s in per_step) for n in names}
    conv_seconds = {
        name:
        statistics.median(
            sum(c.seconds for c in calls if c.row == name)
            for calls in call_steps)
        for name in names
    }
    keys = list(dict.fromkeys(call.key for call in call_steps[0]))
    best = best_alone_seconds(keys, ceiling_repeats, warmup, device)
    rows = roofline_rows(names, seconds, call_steps[0], conv_seconds, best)
    step_median = statistics.median(s[STEP] for s in tracker.steps)
    rows.append(total_row(rows, step_median))
    return dict(
        mode=mode,
        image=list(img_hw),
        repeats=repeats,
        warmup=warmup,
        ceiling_repeats=ceiling_repeats,
        step_s=step_median,
        step_min_s=min(s[STEP] for s in tracker.steps),
        step_max_s=max(s[STEP] for s in tracker.steps),
        backward_s=statistics.median(
            s.get(BACKWARD, 0.0) for s in tracker.steps),
        peak_mib=timing['peak_mib'],
        load=timing['load'],
        distinct_calls=len(keys),
        rows=rows,
        calls=call_summary(call_steps, best),
        environment_before=before,
        environment_after=environment(device))
