import numpy as np
import pytest

from synclr_ray.segment.miou import IGNORE, confusion, scores

LABELS = np.array([[0, 0, 1], [1, 2, IGNORE]])
PREDICTIONS = np.array([[0, 1, 1], [1, 1, 0]])


def test_confusion_counts_true_rows_and_predicted_columns_skipping_ignored_pixels():
    assert confusion(LABELS, PREDICTIONS, 3).tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 0]]


def test_scores_match_hand_computed_values():
    # IoU: class 0 1/(2+1-1), class 1 2/(2+4-2), class 2 0/(1+0-0); accuracies 1/2, 2/2, 0/1; pixels 3/5.
    result = scores(confusion(LABELS, PREDICTIONS, 3))
    assert result["iou"] == pytest.approx([0.5, 0.5, 0.0])
    assert result["mIoU"] == pytest.approx(1 / 3) and result["mAcc"] == pytest.approx(0.5)
    assert result["aAcc"] == pytest.approx(0.6)


def test_classes_absent_from_labels_and_predictions_do_not_count():
    result = scores(confusion(LABELS, PREDICTIONS, 4))
    assert result["iou"][3] is None and result["mIoU"] == pytest.approx(1 / 3)


def test_confusions_of_parts_add_up_to_the_whole():
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 5, (2, 40, 40))
    whole = confusion(labels, predictions, 5)
    parts = confusion(labels[:17], predictions[:17], 5) + confusion(labels[17:], predictions[17:], 5)
    assert np.array_equal(whole, parts) and whole.sum() == labels.size
