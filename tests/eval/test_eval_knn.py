"""kNN on frozen features: cosine similarity, majority vote of k neighbours, k capped by the training set."""

import numpy as np
import pytest

from synclr_ray.eval.knn import knn_probe


def test_similarity_is_cosine_so_feature_norms_do_not_matter():
    # Class 0 points along x, class 1 along y; the test point is far in euclidean terms but aligned with x.
    train = (np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 2.0]]), np.array([0, 0, 1, 1]))
    test = (np.array([[100.0, 1.0], [1.0, 100.0]]), np.array([0, 1]))
    assert knn_probe(train, test, k=1)["top1"] == 1.0


def test_k_is_capped_by_the_training_set_and_reported():
    train = (np.eye(3), np.array([0, 1, 1]))
    result = knn_probe(train, (np.eye(3)[:1], np.array([1])), k=20)
    assert result["k"] == 3 and result["top1"] == 1.0  # the 3-vote majority is class 1


def test_mean_per_class_weights_classes_equally():
    # every neighbour vote yields the majority class: top-1 high, mean per-class at chance
    train = (np.ones((10, 2)), np.array([0] * 9 + [1]))
    test = (np.ones((10, 2)), np.array([0] * 9 + [1]))
    knn = knn_probe(train, test, k=10)
    assert knn["top1"] == pytest.approx(0.9) and knn["mean_per_class"] == pytest.approx(0.5)
