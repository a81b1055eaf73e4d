"""k-nearest-neighbour classification on frozen features with cosine similarity."""

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from synclr_ray.eval.metrics import accuracies


def knn_probe(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], k: int) -> dict:
    """Majority vote of the ``k`` most cosine-similar training features; returns ``top1``, ``mean_per_class``, ``k``."""
    k = min(k, len(train[1]))
    classifier = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(*train)
    return {**accuracies(test[1], classifier.predict(test[0])), "k": k}
