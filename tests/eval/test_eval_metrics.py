"""The accuracies every probe reports: top-1 and mean per-class (the average of per-class recalls)."""

import numpy as np
import pytest

from synclr_ray.eval.metrics import accuracies


def test_top1_counts_images_and_mean_per_class_counts_classes():
    y_true = np.array([0, 0, 0, 0, 1, 2])
    y_pred = np.array([0, 0, 0, 0, 0, 2])  # class 1 always missed
    result = accuracies(y_true, y_pred)
    assert result["top1"] == pytest.approx(5 / 6)
    assert result["mean_per_class"] == pytest.approx((1 + 0 + 1) / 3)
    assert all(isinstance(v, float) for v in result.values())  # JSON-ready


def test_perfect_predictions_score_one_on_both():
    labels = np.array([3, 1, 2, 1])
    assert accuracies(labels, labels) == {"top1": 1.0, "mean_per_class": 1.0}
