"""OccDepth: stereo / RGB-D 3D semantic scene completion for mmdet3d 1.x.

Importing this package registers every dataset, transform, model, metric and
hook into mmdet3d's registries, and allow-lists the types of mmengine's
checkpoints for torch's safe loader (``--resume`` and ``load_from`` on
torch >= 2.6).
"""
from projects.OccDepth.occdepth import datasets  # noqa: F401
from projects.OccDepth.occdepth import engine  # noqa: F401
from projects.OccDepth.occdepth import evaluation  # noqa: F401
from projects.OccDepth.occdepth import models  # noqa: F401
from projects.OccDepth.occdepth import visualization  # noqa: F401
from projects.OccDepth.occdepth.engine.checkpoint_safety import \
    allow_mmengine_checkpoint_types

allow_mmengine_checkpoint_types()
