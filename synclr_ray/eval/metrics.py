"""Classification accuracies reported by every probe."""

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score


def accuracies(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and mean per-class accuracy (the average of per-class recalls)."""
    return {
        "top1": float(accuracy_score(y_true, y_pred)),
        "mean_per_class": float(balanced_accuracy_score(y_true, y_pred)),
    }
