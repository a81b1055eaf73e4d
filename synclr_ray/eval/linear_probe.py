"""Linear probe on frozen features: L-BFGS logistic regression, C swept on a validation split, refit on train+val."""

import copy
import logging
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from synclr_ray.eval.metrics import accuracies

log = logging.getLogger(__name__)


def linear_probe(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    cs: Sequence[float],
    val: tuple[np.ndarray, np.ndarray] | None = None,
    val_fraction: float = 0.2,
    max_iter: int = 1000,
    seed: int = 0,
) -> dict:
    """The paper's fine-grained protocol; returns test ``top1``, ``mean_per_class``, the chosen ``C`` and the sweep.

    Without ``val``, a stratified ``val_fraction`` of ``train`` is held out to pick C. Features
    are standardised first (fitted on the training features), which lets L-BFGS converge fast
    on any encoder's feature scale.
    """
    train_x, train_y = train
    if val is None:
        counts = np.unique(train_y, return_counts=True)[1]
        if len(counts) < 2 or counts.min() < 2:
            raise ValueError(
                "linear probe: every class needs at least 2 training images to hold out a validation split"
            )
        fit_x, val_x, fit_y, val_y = train_test_split(
            train_x, train_y, test_size=val_fraction, stratify=train_y, random_state=seed
        )
    else:
        (fit_x, fit_y), (val_x, val_y) = (train_x, train_y), val
    sweep = {}
    for c, model in _regularisation_path(fit_x, fit_y, cs, max_iter, seed):
        sweep[c] = accuracies(val_y, model.predict(val_x))["top1"]
        log.info("linear probe: C=%g val top-1 %.4f", c, sweep[c])
    best_c = max(sweep, key=lambda c: (sweep[c], -c))  # ties: the strongest regularisation
    all_x = np.concatenate([fit_x, val_x])
    all_y = np.concatenate([fit_y, val_y])
    *_, (_, model) = _regularisation_path(all_x, all_y, [c for c in cs if c <= best_c], max_iter, seed)
    return {**accuracies(test[1], model.predict(test[0])), "C": best_c, "val_top1_by_C": dict(sorted(sweep.items()))}


def _regularisation_path(
    x: np.ndarray, y: np.ndarray, cs: Sequence[float], max_iter: int, seed: int
) -> Iterator[tuple[float, Pipeline]]:
    """Fits at each C in ascending order, each L-BFGS run started from the previous solution.

    The objective is convex, so a warm start changes only how fast a fit converges: the weakly
    regularised fits, which took most of a cold sweep's time, start next to their optimum.
    """
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    classifier = LogisticRegression(solver="lbfgs", max_iter=max_iter, random_state=seed, warm_start=True)
    for c in sorted(float(c) for c in cs):
        with warnings.catch_warnings():
            # A capped iteration count is part of the protocol; an unconverged fit at a weak C just scores lower.
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.set_params(C=c).fit(z, y)
        yield c, make_pipeline(scaler, copy.deepcopy(classifier))  # the next C refits `classifier` in place
