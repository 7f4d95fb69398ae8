"""Reading checkpoints with clear errors, strict weight loading and atomic
writes.

Every checkpoint the project reads (``--resume``, ``load_from``,
``tools/test.py``, the demo, the ONNX export) goes through
:func:`read_checkpoint`: torch's weights-only loader with the mmengine types
allow-listed in :mod:`.checkpoint_safety`. A file that cannot be read raises
:class:`CheckpointError` with one line naming the file and what is wrong
with it (missing, empty, truncated, not a PyTorch file, refused by the safe
loader), instead of torch's bare ``EOFError`` or ``PytorchStreamReader``
message.

:func:`load_state_dict_checked` applies the weights and lists missing,
unexpected and shape-mismatched keys; with ``strict=True`` any of them is a
:class:`CheckpointMismatchError`, otherwise only the matching tensors are
loaded.

:func:`atomic_output` writes a file under a temporary name in the same
folder, fsyncs it and renames it into place, so a crash leaves either the
old file or the complete new one, never a partial file under the real name.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, Union)

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

MapLocation = Union[str, torch.device, Callable, None]

#: ``(pattern, replacement)`` pairs applied to the checkpoint's keys; the
#: default strips the ``module.`` prefix of (D)DP-wrapped models.
ReviseKeys = Sequence[Tuple[str, str]]
DEFAULT_REVISE_KEYS: ReviseKeys = ((r'^module\.', ''), )

#: Temporary files are named ``.<name>.<pid>.tmp`` next to their target.
_TEMP_NAME = re.compile(r'^\..+\.\d+\.tmp$')
_ZIP_MAGIC = b'PK\x03\x04'  # torch >= 1.6 saves a zip archive
_PICKLE_MAGIC = b'\x80'  # the legacy format starts with a pickle protocol


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's weights do not fit the model; the message lists the
    keys."""


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def _refusal(exc: BaseException) -> Optional[str]:
    """The reason torch's weights-only unpickler gave, if it refused."""
    text = str(exc)
    if 'Weights only load failed' not in text:
        return None
    found = re.search(r'WeightsUnpickler error:\s*(.+)', text)
    detail = found.group(1).split('. ')[0] if found else _first_line(exc)
    return f'torch\'s weights-only loader refuses its content ({detail})'


def _read_local(path: str, map_location: MapLocation) -> Any:
    local = osp.expanduser(path)
    if not osp.exists(local):
        raise CheckpointError(f'{path}: no such file')
    if osp.isdir(local):
        raise CheckpointError(f'{path}: is a folder, not a checkpoint file')
    size = osp.getsize(local)
    if size == 0:
        raise CheckpointError(f'{path}: empty file (0 bytes)')
    try:
        with open(local, 'rb') as f:
            head = f.read(len(_ZIP_MAGIC))
    except OSError as exc:
        raise CheckpointError(
            f'{path}: cannot be read ({exc.strerror or exc})') from exc
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(local):
            raise CheckpointError(
                f'{path}: truncated ({size} bytes; the zip archive ends '
                f'before its central directory)')
    elif not head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(f'{path}: not a PyTorch checkpoint (it starts '
                              f'with {head!r})')
    try:
        return torch.load(local, map_location=map_location, weights_only=True)
    except EOFError as exc:
        raise CheckpointError(
            f'{path}: truncated ({size} bytes; the data ends early)') from exc
    except (MemoryError, OSError):
        raise  # not a property of the file's content
    except Exception as exc:  # torch raises many types for a bad archive
        reason = _refusal(exc) or f'corrupt ({_first_line(exc)})'
        raise CheckpointError(f'{path}: {reason}') from exc


def read_checkpoint(path: str, map_location: MapLocation = 'cpu') -> dict:
    """Load a checkpoint file with torch's weights-only loader.

    Args:
        path: A local file, or a URI that mmengine's ``CheckpointLoader``
            reads (``https://``, ``open-mmlab://``, ...).
        map_location: Passed to ``torch.load``.

    Returns:
        The checkpoint dict.

    Raises:
        CheckpointError: One line naming ``path`` and what is wrong with it.
    """
    if '://' in path:
        try:
            checkpoint = CheckpointLoader.load_checkpoint(path, map_location)
        except Exception as exc:
            raise CheckpointError(
                f'{path}: cannot be loaded ({_first_line(exc)})') from exc
    else:
        checkpoint = _read_local(path, map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'{path}: holds a {type(checkpoint).__name__}, '
                              f'not a checkpoint dict')
    return checkpoint


def check_resumable(checkpoint: dict, path: str) -> None:
    """Refuse a checkpoint that lacks what ``Runner.resume`` reads.

    Raises:
        CheckpointError: When ``meta`` (with ``epoch`` and ``iter``),
            ``state_dict`` or ``message_hub`` is missing, e.g. in a
            converted weights-only file.
    """
    meta = checkpoint.get('meta')
    lacking = [
        key for key in ('state_dict', 'message_hub') if key not in checkpoint
    ]
    if not isinstance(meta, dict) or not {'epoch', 'iter'} <= set(meta):
        lacking.insert(0, 'meta.epoch/iter')
    if lacking:
        raise CheckpointError(f'{path}: not a training checkpoint (no '
                              f'{", ".join(lacking)}), cannot resume from it')


def state_dict_of(checkpoint: dict, path: str) -> Mapping[str, Any]:
    """The model weights of a checkpoint (its ``state_dict`` entry, or the
    dict itself when it maps names to tensors)."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping) or not any(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f'{path}: holds no model weights (no '
                              f'"state_dict" entry and no tensors)')
    return state_dict


def _revised(state_dict: Mapping[str, Any],
             revise_keys: ReviseKeys) -> 'OrderedDict':
    revised = OrderedDict()
    for key, value in state_dict.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    # torch reads the per-module versions (e.g. of BatchNorm) from here
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        revised._metadata = metadata
    return revised


def _shape(value: Any) -> Optional[Tuple[int, ...]]:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def load_state_dict_checked(
        model: nn.Module,
        state_dict: Mapping[str, Any],
        source: str,
        strict: bool = True,
        revise_keys: ReviseKeys = DEFAULT_REVISE_KEYS) -> str:
    """Copy the weights of ``state_dict`` into ``model``, listing mismatches.

    A key is missing when the model has it and the checkpoint does not
    (BatchNorm's ``num_batches_tracked`` counters are not counted, as in
    mmengine), unexpected when only the checkpoint has it, and mismatched
    when both hold a tensor of different shapes.

    Args:
        model: The unwrapped model.
        state_dict: Its weights, e.g. from :func:`state_dict_of`.
        source: The file name used in messages.
        strict: Raise on any mismatch; otherwise load the tensors that fit
            and leave the rest of the model as it is.
        revise_keys: ``(pattern, replacement)`` substitutions for the keys.

    Returns:
        The mismatch report, empty when the checkpoint fits exactly.

    Raises:
        CheckpointMismatchError: ``strict`` and a key does not fit; the
            message lists every such key.
    """
    state_dict = _revised(state_dict, revise_keys)
    expected = model.state_dict()
    missing = [
        k for k in expected
        if k not in state_dict and not k.endswith('num_batches_tracked')
    ]
    unexpected = [k for k in state_dict if k not in expected]
    reshaped = [
        k for k in expected
        if k in state_dict and _shape(state_dict[k]) != _shape(expected[k])
    ]
    report = ''
    if missing or unexpected or reshaped:
        lines = [
            f'{source} does not match the model: {len(missing)} missing, '
            f'{len(unexpected)} unexpected and {len(reshaped)} '
            f'shape-mismatched keys'
        ]
        lines += [f'  missing: {k}' for k in missing]
        lines += [f'  unexpected: {k}' for k in unexpected]
        lines += [
            f'  shape: {k}: checkpoint {list(_shape(state_dict[k]) or ())} '
            f'vs model {list(_shape(expected[k]) or ())}' for k in reshaped
        ]
        report = '\n'.join(lines)
        if strict:
            raise CheckpointMismatchError(report)
    skip = set(reshaped)
    usable = OrderedDict((k, v) for k, v in state_dict.items()
                         if k in expected and k not in skip)
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        usable._metadata = metadata
    model.load_state_dict(usable, strict=False)
    return report


def load_model_weights(model: nn.Module,
                       path: str,
                       strict: bool = True,
                       map_location: MapLocation = 'cpu') -> dict:
    """Read ``path`` and load its weights into ``model`` (inference tools).

    Args:
        model: The model, as built from the config.
        path: Checkpoint file.
        strict: Refuse a checkpoint that does not fit the model exactly;
            when False the matching weights are loaded and the mismatch is
            logged as a warning.
        map_location: Passed to ``torch.load``.

    Returns:
        The checkpoint dict.

    Raises:
        CheckpointError: The file cannot be read (one line), or
            :class:`CheckpointMismatchError` when ``strict`` and it does not
            fit.
    """
    checkpoint = read_checkpoint(path, map_location)
    report = load_state_dict_checked(model, state_dict_of(checkpoint, path),
                                     path, strict)
    if report:
        print_log(
            f'Partial load: {report}', logger='current', level=logging.WARNING)
    return checkpoint


def cli_error(exc: CheckpointError) -> str:
    """What a command-line tool prints for ``exc`` before it exits: the
    one-line reason, or for a mismatch the key list and the flag (of
    ``tools/test.py``, ``tools/export_onnx.py`` and ``demo/ssc_demo.py``)
    that accepts it."""
    if isinstance(exc, CheckpointMismatchError):
        return (f'error: {exc}\nPass --allow-partial-load to use the model '
                f'with only the matching weights loaded.')
    return f'error: {exc}'


def _fsync_path(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_file(name: str) -> bool:
    """Whether ``name`` (a base name) is one of :func:`atomic_output`'s
    temporary files."""
    return bool(_TEMP_NAME.match(name))


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yield a temporary path; when the block succeeds, move it to ``path``.

    The block writes the temporary file ``.<name>.<pid>.tmp`` in the folder
    of ``path``. Afterwards it is fsync'd and renamed over ``path`` with
    ``os.replace`` (atomic on POSIX), and the folder is fsync'd so the
    rename survives a power loss. If the block raises, the temporary file
    is removed and ``path`` is left as it was; a killed process leaves the
    temporary file behind (see :func:`remove_temp_files`).
    """
    folder, name = osp.split(osp.abspath(path))
    temp = osp.join(folder, f'.{name}.{os.getpid()}.tmp')
    try:
        yield temp
        if not osp.isfile(temp):
            raise FileNotFoundError(f'{temp}: nothing was written for {path}')
        _fsync_path(temp, os.O_RDWR)
        os.replace(temp, path)
    except BaseException:
        if osp.lexists(temp):
            os.remove(temp)
        raise
    _fsync_path(folder, os.O_RDONLY)


def write_text_atomic(path: str, text: str) -> None:
    """Replace the text file ``path`` atomically (see
    :func:`atomic_output`)."""
    with atomic_output(path) as temp:
        with open(temp, 'w') as f:
            f.write(text)


def remove_temp_files(folder: str) -> List[str]:
    """Remove the temporary files a killed :func:`atomic_output` left in
    ``folder``; returns their paths."""
    if not osp.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if is_temp_file(name) and osp.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


def resume_candidates(work_dir: str,
                      filename_tmpl: str = 'epoch_{}.pth') -> List[str]:
    """Checkpoints to try for an automatic resume, newest first.

    These are the files named by ``filename_tmpl`` (``{}`` being the epoch
    or iteration) in ``work_dir`` and in the folder of the checkpoint that
    ``work_dir/last_checkpoint`` names, ordered by that number. The file
    ``last_checkpoint`` names comes first when its name does not follow the
    template or it no longer exists, so that it is reported. ``best_*``
    checkpoints (no optimizer state) and temporary files do not match.
    """
    pattern = re.compile(
        '^' + re.escape(filename_tmpl).replace(re.escape('{}'), r'(\d+)') +
        '$')
    record = osp.join(work_dir, 'last_checkpoint')
    pointed = None
    if osp.isfile(record):
        with open(record) as f:
            text = f.read().strip()
        pointed = osp.abspath(text) if text else None
    folders = {osp.abspath(work_dir)}
    if pointed:
        folders.add(osp.dirname(pointed))
    numbered: Dict[str, int] = {}
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            found = pattern.match(name)
            if found and osp.isfile(osp.join(folder, name)):
                numbered[osp.join(folder, name)] = int(found.group(1))
    ordered = sorted(numbered, key=lambda p: numbered[p], reverse=True)
    if pointed and pointed not in numbered:
        ordered.insert(0, pointed)
    return ordered
