from projects.OccDepth.occdepth.evaluation.depth_metric import (
    DepthMetric, depth_error_sums)
from projects.OccDepth.occdepth.evaluation.ssc_metric import (
    SSCMetric, confusion_matrix, scores_from_confusion)
from projects.OccDepth.occdepth.evaluation.submission import (
    make_description, validate_submission, write_prediction_label,
    zip_submission)

__all__ = [
    'DepthMetric', 'depth_error_sums', 'SSCMetric', 'confusion_matrix',
    'scores_from_confusion', 'make_description', 'validate_submission',
    'write_prediction_label', 'zip_submission'
]
