from projects.OccDepth.occdepth.models import backbones  # noqa: F401
from projects.OccDepth.occdepth.models import depth_heads  # noqa: F401
from projects.OccDepth.occdepth.models import losses  # noqa: F401
from projects.OccDepth.occdepth.models import occ_heads  # noqa: F401
from projects.OccDepth.occdepth.models import utils  # noqa: F401
from projects.OccDepth.occdepth.models import view_transformers  # noqa: F401
from projects.OccDepth.occdepth.models.data_preprocessor import \
    SSCDataPreprocessor
from projects.OccDepth.occdepth.models.occdepth import OccDepth

__all__ = ['OccDepth', 'SSCDataPreprocessor']
