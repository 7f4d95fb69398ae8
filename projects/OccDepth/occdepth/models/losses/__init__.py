from projects.OccDepth.occdepth.models.losses import (depth_loss, frustum_loss,
                                                      relation_loss,
                                                      ssc_losses)
from projects.OccDepth.occdepth.models.losses.depth_loss import DepthBCELoss
from projects.OccDepth.occdepth.models.losses.frustum_loss import \
    FrustumProportionLoss
from projects.OccDepth.occdepth.models.losses.relation_loss import \
    ContextRelationLoss
from projects.OccDepth.occdepth.models.losses.ssc_losses import (
    GeoScalLoss, OccupancyLoss, SemScalLoss, SSCCrossEntropyLoss)

__all__ = [
    'depth_loss', 'frustum_loss', 'relation_loss', 'ssc_losses',
    'ContextRelationLoss', 'DepthBCELoss', 'FrustumProportionLoss',
    'GeoScalLoss', 'OccupancyLoss', 'SemScalLoss', 'SSCCrossEntropyLoss'
]
