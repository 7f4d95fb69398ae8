"""Make mmengine checkpoints loadable by torch's safe loader.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10
does not pass ``weights_only``, so loading its checkpoints (``--resume``,
``load_from``) fails on the Python objects stored next to the weights: the
message hub's ``HistoryBuffer`` logs (whose pickled state even carries
functions, unpicklable without allowing ``getattr``), numpy arrays and
scalars, and the ``Counter`` of step schedulers.

Rather than switching the safe loader off, the project

1. pickles ``HistoryBuffer`` through a ``copyreg`` reducer as its constructor
   arguments (two numpy arrays and an int), and
2. allow-lists exactly the types that checkpoints written this way hold.

Anything else in a file is still refused by torch. Checkpoints written by a
plain mmengine process without this package keep the functions in their
message hub and are refused with torch's own explanation.

The project reads checkpoints with
:func:`~projects.OccDepth.occdepth.engine.checkpointing.read_checkpoint`,
which passes ``weights_only=True`` explicitly and turns a refusal into a
one-line error naming the file and the refused type.
"""
import collections
import copyreg

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _reduce_history_buffer(buf: HistoryBuffer) -> tuple:
    log_history, count_history = buf.data
    return HistoryBuffer, (log_history, count_history, buf.max_length)


def _numpy_globals() -> list:
    """The numpy callables and types that pickled arrays and scalars use."""
    if int(np.__version__.split('.')[0]) >= 2:
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    allowed = [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype
    ]
    # numpy >= 1.25 pickles a dtype through its class, e.g. Float64DType
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
        ]
    return allowed


def allow_mmengine_checkpoint_types() -> None:
    """Register the reducer and the safe types (idempotent)."""
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 does not load weights-only
        return
    add_safe_globals([HistoryBuffer, collections.Counter] + _numpy_globals())
