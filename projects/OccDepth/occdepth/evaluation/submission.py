"""SemanticKITTI SSC hidden-test submissions: writer, zipper, validator.

The benchmark (semantic-kitti-api, CodaLab) expects a zip holding

* the directory entries ``sequences/``, ``sequences/NN/`` and
  ``sequences/NN/predictions/`` for every test sequence ``NN = 11 .. 21``;
* one ``sequences/NN/predictions/FRAME.label`` per ``voxels/FRAME.bin`` of
  the test set: 256 x 256 x 32 uint16 **raw** SemanticKITTI ids (10 = car,
  40 = road, ...), flattened in C order (4,194,304 bytes);
* optionally a ``description.txt`` (``name:``, ``pdf url:``, ``code url:``);

and nothing else. :func:`validate_submission` runs the checks of the
benchmark's ``validate_submission.py --task completion`` in the same order
but reports every problem instead of stopping at the first one.

Every file written or packed stays inside the folder the user gave: a
sequence or frame name must be one plain path component (no ``..``, no
separator, not absolute), written paths are resolved and checked, and
symbolic links in the prediction tree are refused (their targets are never
packed).
"""
import os
import os.path as osp
import zipfile
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from projects.OccDepth.occdepth.datasets.io import KITTI_GRID_SIZE, write_label
from projects.OccDepth.occdepth.datasets.label_maps import \
    semantickitti_inverse_lut
from projects.OccDepth.occdepth.datasets.semantickitti import KITTI_SPLITS

TEST_SEQUENCES: Tuple[str, ...] = KITTI_SPLITS['test']
DESCRIPTION_FILE = 'description.txt'
# At most this many missing / wrong files are named per sequence; the rest
# are counted in one line.
_MAX_LISTED = 10


def _sequence_name(sequence: Union[str, int]) -> str:
    """Two-digit name of a sequence given as ``8``, ``'8'`` or ``'08'``."""
    name = str(sequence)
    return f'{int(name):02d}' if name.isdigit() else name


def check_name(name: Union[str, int], what: str) -> str:
    """Return ``name`` as a string after checking it is one plain path
    component.

    Args:
        name: A sequence name or frame id.
        what: What the name is, for the error message.

    Raises:
        ValueError: if the name is empty, ``.`` or ``..``, absolute, or holds
            a path separator (``/`` or ``\\``) or a NUL byte.
    """
    text = str(name)
    if (not text or text in ('.', '..') or osp.isabs(text)
            or any(c in text for c in ('/', '\\', '\0'))):
        raise ValueError(f'{what} {text!r} is not a plain file name: it must '
                         f'not be empty, "." or "..", absolute, or hold a '
                         f'path separator, since the output must stay inside '
                         f'the folder given')
    return text


def contained_path(root: str, *parts: str) -> str:
    """``root/parts...``, checked to resolve inside ``root``.

    Symbolic links are resolved (``os.path.realpath``), so a link inside
    ``root`` that points elsewhere is refused too.

    Raises:
        ValueError: naming the path and where it resolves to.
    """
    path = osp.join(root, *parts)
    real_root = osp.realpath(root)
    real = osp.realpath(path)
    if osp.commonpath([real_root, real]) != real_root:
        raise ValueError(f'{path} resolves to {real}, outside the output '
                         f'folder {root} ({real_root})')
    return path


def prediction_path(out_dir: str, sequence: Union[str, int],
                    frame_id: Union[str, int]) -> str:
    """``out_dir/sequences/SEQ/predictions/FRAME.label``, kept inside
    ``out_dir`` (see :func:`check_name` and :func:`contained_path`)."""
    seq = check_name(sequence, 'sequence name')
    frame = check_name(frame_id, 'frame id')
    return contained_path(out_dir, 'sequences', seq, 'predictions',
                          f'{frame}.label')


def write_prediction_label(
        path: str,
        pred,
        grid_size: Optional[Sequence[int]] = KITTI_GRID_SIZE) -> None:
    """Write a prediction of training ids as a benchmark ``.label`` file.

    Training ids ``0 .. 19`` become raw SemanticKITTI ids through
    ``learning_map_inv`` (0 -> 0 empty, 1 -> 10 car, 9 -> 40 road, ...) and
    are written as uint16 in C order. Missing parent folders are created.

    Args:
        path: Output ``.label`` file.
        pred: ``(X, Y, Z)`` integer training ids (numpy array or tensor).
        grid_size: Required shape; the benchmark's 256 x 256 x 32 by
            default, None to accept any 3D grid (other datasets / scales,
            which the benchmark's scripts cannot read).

    Raises:
        ValueError: if ``pred`` is not an integer 3D grid of ``grid_size``
            or holds an id outside ``0 .. 19`` (e.g. 255 "ignore").
    """
    if hasattr(pred, 'detach'):
        pred = pred.detach().cpu().numpy()
    pred = np.asarray(pred)
    if pred.dtype != bool and not np.issubdtype(pred.dtype, np.integer):
        raise ValueError(f'{path}: prediction must hold integer training '
                         f'ids, got dtype {pred.dtype}')
    if pred.ndim != 3:
        raise ValueError(f'{path}: prediction must be a 3D voxel grid, got '
                         f'shape {pred.shape}')
    if grid_size is not None and pred.shape != tuple(grid_size):
        raise ValueError(f'{path}: prediction has shape {pred.shape}, '
                         f'expected {tuple(grid_size)}')
    inverse = semantickitti_inverse_lut()
    pred = pred.astype(np.int64)
    bad = (pred < 0) | (pred >= len(inverse))
    if bad.any():
        ids = np.unique(pred[bad])
        shown = ', '.join(str(i) for i in ids[:_MAX_LISTED])
        raise ValueError(
            f'{path}: {int(bad.sum())} voxels hold training ids outside '
            f'0..{len(inverse) - 1} ({shown}); they have no SemanticKITTI '
            f'raw id (the benchmark cannot score ignore/255 predictions)')
    parent = osp.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    write_label(path, inverse[pred])


def make_description(name: str, pdf_url: str = '', code_url: str = '') -> str:
    """Text of the optional ``description.txt`` of a submission."""
    return f'name: {name}\npdf url: {pdf_url}\ncode url: {code_url}\n'


def _dir_entry(name: str) -> zipfile.ZipInfo:
    """A zip directory entry (``name`` ends with ``/``)."""
    info = zipfile.ZipInfo(name)
    # drwxr-xr-x plus the MS-DOS directory flag, as ``zip -r`` writes.
    info.external_attr = (0o40755 << 16) | 0x10
    return info


def _refuse_link(path: str) -> None:
    """Refuse a symbolic link: only files inside the tree are packed."""
    if osp.islink(path):
        raise ValueError(f'{path} is a symbolic link (to '
                         f'{os.readlink(path)}); a submission packs only '
                         f'regular files and folders, never a link\'s '
                         f'target: replace the link with the file itself')


def _collect_predictions(pred_root: str) -> List[Tuple[str, List[str]]]:
    """``(sequence, sorted .label names)`` under ``pred_root/sequences``."""
    seq_root = osp.join(pred_root, 'sequences')
    _refuse_link(seq_root)
    if not osp.isdir(seq_root):
        raise FileNotFoundError(f'{seq_root}: folder not found; expected '
                                f'sequences/NN/predictions/*.label under '
                                f'{pred_root}')
    found, unexpected = [], []
    for seq in sorted(os.listdir(seq_root)):
        check_name(seq, f'{seq_root}: sequence folder')
        seq_dir = osp.join(seq_root, seq)
        pred_dir = osp.join(seq_dir, 'predictions')
        _refuse_link(seq_dir)
        _refuse_link(pred_dir)
        if not osp.isdir(pred_dir):
            unexpected.append(seq_dir)
            continue
        extra = sorted(set(os.listdir(seq_dir)) - {'predictions'})
        unexpected += [osp.join(seq_dir, e) for e in extra]
        labels = []
        for name in sorted(os.listdir(pred_dir)):
            check_name(name, f'{pred_dir}: file')
            path = osp.join(pred_dir, name)
            _refuse_link(path)
            if name.endswith('.label') and osp.isfile(path):
                labels.append(name)
            else:
                unexpected.append(path)
        found.append((seq, labels))
    if unexpected:
        raise ValueError(f'{seq_root}: the benchmark rejects anything but '
                         f'sequences/NN/predictions/*.label; remove '
                         f'{", ".join(unexpected[:_MAX_LISTED])}'
                         f'{" ..." if len(unexpected) > _MAX_LISTED else ""}')
    if not any(labels for _, labels in found):
        raise ValueError(f'{seq_root}: no .label files found under '
                         f'sequences/NN/predictions/')
    return found


def zip_submission(pred_root: str,
                   zip_path: str,
                   description: Optional[str] = None) -> int:
    """Zip ``pred_root/sequences/NN/predictions/*.label`` for the benchmark.

    The archive gets explicit directory entries (``sequences/``,
    ``sequences/NN/``, ``sequences/NN/predictions/``) for every sequence
    present, which the benchmark's validator requires, the ``.label`` files
    (deflated) and, if given, ``description.txt``.

    Args:
        pred_root: Folder holding ``sequences/``.
        zip_path: Output archive; must end in ``.zip``.
        description: Text of ``description.txt`` (see
            :func:`make_description`), or None for none.

    Returns:
        Number of ``.label`` files written to the archive.

    Raises:
        FileNotFoundError: if ``pred_root/sequences`` does not exist.
        ValueError: if ``zip_path`` does not end in ``.zip``, if no
            ``.label`` file is found, if the tree holds anything else, or
            if ``sequences/``, a sequence or ``predictions/`` folder or a
            ``.label`` file is a symbolic link (refused, never followed:
            the archive must hold the files of ``pred_root`` only).
    """
    if not zip_path.endswith('.zip'):
        raise ValueError(f'{zip_path}: the benchmark only accepts a file '
                         f'name ending in .zip')
    found = _collect_predictions(pred_root)
    parent = osp.dirname(zip_path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    count = 0
    with zipfile.ZipFile(zip_path, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_dir_entry('sequences/'), b'')
        for seq, labels in found:
            prefix = f'sequences/{seq}/'
            zf.writestr(_dir_entry(prefix), b'')
            zf.writestr(_dir_entry(prefix + 'predictions/'), b'')
            for name in labels:
                zf.write(
                    osp.join(pred_root, 'sequences', seq, 'predictions', name),
                    prefix + 'predictions/' + name)
                count += 1
        if description is not None:
            zf.writestr(DESCRIPTION_FILE, description)
    return count


def _listed(problems: List[str], what: str) -> List[str]:
    """At most ``_MAX_LISTED`` problems, then a count of the others."""
    if len(problems) <= _MAX_LISTED:
        return problems
    rest = len(problems) - _MAX_LISTED
    return problems[:_MAX_LISTED] + [f'... and {rest} more {what}']


def validate_submission(
        zip_path: str,
        dataset_root: str,
        sequences: Sequence[Union[str, int]] = TEST_SEQUENCES,
        grid_size: Sequence[int] = KITTI_GRID_SIZE) -> List[str]:
    """Check a completion submission zip like the benchmark's validator.

    Checks, in order: (1) the name ends in ``.zip``; (2) the directory
    entries ``sequences/``, ``sequences/NN/`` and
    ``sequences/NN/predictions/`` exist for every sequence; (3) every
    ``dataset_root/sequences/NN/voxels/*.bin`` has its
    ``sequences/NN/predictions/*.label`` with ``file_size / 2`` equal to the
    voxel count of ``grid_size``; (4) the zip holds nothing else except
    ``description.txt``. Label values are not checked (as on the server).

    Args:
        zip_path: The submission archive.
        dataset_root: Folder holding ``sequences/NN/voxels/*.bin``.
        sequences: Sequences to check; the hidden test set 11..21 by
            default (e.g. ``('08',)`` for a validation-set archive).
        grid_size: Voxel grid of each prediction.

    Returns:
        One message per problem; empty for a valid submission.

    Raises:
        FileNotFoundError: if ``zip_path`` or a sequence's ``voxels``
            folder of the dataset does not exist.
    """
    sequences = [
        check_name(_sequence_name(s), 'sequence name') for s in sequences
    ]
    if not osp.isfile(zip_path):
        raise FileNotFoundError(f'{zip_path}: submission file not found')
    frames = {}
    for seq in sequences:
        voxel_dir = osp.join(dataset_root, 'sequences', seq, 'voxels')
        if not osp.isdir(voxel_dir):
            raise FileNotFoundError(
                f'{voxel_dir}: folder not found; dataset_root must hold '
                f'sequences/{seq}/voxels/*.bin')
        frames[seq] = sorted(n[:-4] for n in os.listdir(voxel_dir)
                             if n.endswith('.bin'))

    errors = []
    if not zip_path.endswith('.zip'):
        errors.append(f'{zip_path}: the file name must end in .zip')
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        return errors + [f'{zip_path}: not a zip archive ({exc})']

    directories = {i.filename for i in infos if i.filename.endswith('/')}
    expected_dirs = ['sequences/']
    for seq in sequences:
        expected_dirs += [f'sequences/{seq}/', f'sequences/{seq}/predictions/']
    for name in expected_dirs:
        if name not in directories:
            errors.append(
                f'{zip_path}: directory entry "{name}" is missing (the zip '
                f'must hold explicit folder entries; write it with '
                f'tools/make_submission.py or "zip -r")')

    sizes = {i.filename: i.file_size for i in infos}
    expected_size = 2 * int(np.prod(grid_size))
    expected_files = set()
    for seq in sequences:
        missing, wrong = [], []
        for frame in frames[seq]:
            name = f'sequences/{seq}/predictions/{frame}.label'
            expected_files.add(name)
            if name not in sizes:
                missing.append(f'{zip_path}: prediction "{name}" is missing '
                               f'(for voxels/{frame}.bin of the dataset)')
            elif sizes[name] != expected_size:
                wrong.append(f'{zip_path}: "{name}" has {sizes[name]} bytes '
                             f'({sizes[name] / 2:g} labels), expected '
                             f'{expected_size} (uint16 x {tuple(grid_size)})')
        errors += _listed(missing, f'missing predictions in sequence {seq}')
        errors += _listed(wrong, f'wrong-size predictions in sequence {seq}')

    allowed = set(expected_dirs) | expected_files | {DESCRIPTION_FILE}
    extra = [
        f'{zip_path}: unexpected entry "{i.filename}" (only '
        f'sequences/NN/predictions/*.label of the dataset\'s frames and '
        f'{DESCRIPTION_FILE} are allowed)' for i in infos
        if i.filename not in allowed
    ]
    errors += _listed(extra, 'unexpected entries')
    return errors
