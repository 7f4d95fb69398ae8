from .ssc_metric import SSCMetric, confusion_matrix, scores_from_confusion

__all__ = ['SSCMetric', 'confusion_matrix', 'scores_from_confusion']
