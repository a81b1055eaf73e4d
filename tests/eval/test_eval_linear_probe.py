import numpy as np
import pytest

from synclr_ray.eval.knn import knn_probe
from synclr_ray.eval.linear_probe import linear_probe

CS = [0.01, 1.0, 100.0]


def clusters(n_per_class: int, classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Well separated Gaussian clusters: a fixed feature extractor's output on a separable dataset."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 1, (classes, dim)) * 3
    y = np.repeat(np.arange(classes), n_per_class)
    return centres[y] + rng.normal(0, 0.5, (len(y), dim)), y


def test_separable_features_give_near_perfect_accuracy():
    train, test = clusters(40, 5, 16, seed=0), clusters(20, 5, 16, seed=1)
    linear = linear_probe(train, test, CS)
    knn = knn_probe(train, test, k=5)
    assert linear["top1"] >= 0.98 and linear["mean_per_class"] >= 0.98
    assert knn["top1"] >= 0.98 and knn["k"] == 5
    assert set(linear["val_top1_by_C"]) == set(CS) and linear["C"] in CS


def test_shuffled_labels_give_chance():
    (train_x, train_y), (test_x, test_y) = clusters(60, 5, 16, seed=0), clusters(60, 5, 16, seed=1)
    rng = np.random.default_rng(0)
    train, test = (train_x, rng.permutation(train_y)), (test_x, rng.permutation(test_y))
    assert abs(linear_probe(train, test, CS)["top1"] - 0.2) < 0.1
    assert abs(knn_probe(train, test, k=10)["top1"] - 0.2) < 0.1


def test_given_val_split_picks_c_and_refits_on_train_plus_val():
    train, val, test = clusters(30, 3, 8, seed=0), clusters(10, 3, 8, seed=2), clusters(10, 3, 8, seed=1)
    result = linear_probe(train, test, CS, val=val)
    assert result["top1"] == 1.0
    # the sweep scored on the given val split: every C separates these clusters
    assert all(acc == 1.0 for acc in result["val_top1_by_C"].values()) and result["C"] == min(CS)


def test_too_few_images_per_class_is_a_clear_error():
    x, y = np.zeros((3, 2)), np.array([0, 0, 1])
    with pytest.raises(ValueError, match="every class needs at least 2 training images"):
        linear_probe((x, y), (x, y), CS)
