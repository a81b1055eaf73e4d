"""Segmentation scores from a confusion matrix: mIoU (the paper's number), mean class accuracy, pixel accuracy."""

import numpy as np

IGNORE = 255


def confusion(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """``num_classes`` x ``num_classes`` counts (row: true class, column: predicted); ``IGNORE`` pixels skipped."""
    valid = labels != IGNORE
    index = num_classes * labels[valid].astype(np.int64) + predictions[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(matrix: np.ndarray) -> dict:
    """mmsegmentation's IoUMetric: per-class IoU, averaged over the classes that occur (in labels or predictions).

    Returns ``mIoU``, ``mAcc`` (mean per-class pixel accuracy over classes present in the labels),
    ``aAcc`` (pixel accuracy) and ``iou`` (per class, None where the class never occurs).
    """
    matrix = matrix.astype(np.float64)
    hits = np.diag(matrix)
    labelled = matrix.sum(axis=1)
    union = labelled + matrix.sum(axis=0) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = hits / union
        accuracy = hits / labelled
    return {
        "mIoU": float(np.nanmean(iou)),
        "mAcc": float(np.nanmean(accuracy)),
        "aAcc": float(hits.sum() / matrix.sum()),
        "iou": [None if np.isnan(v) else float(v) for v in iou],
    }
