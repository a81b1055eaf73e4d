"""The probe: encoder vs its random-init baseline, linear probe and kNN on one dataset split."""

import logging

import numpy as np

from synclr_ray import storage
from synclr_ray.cluster import run_data_in
from synclr_ray.config import Config
from synclr_ray.config.eval import EvalConfig
from synclr_ray.encoder import load_encoder
from synclr_ray.eval.datasets import load_dataset
from synclr_ray.eval.features import BASELINE, COMPARE, ENCODER, Features, extract_features
from synclr_ray.eval.knn import knn_probe
from synclr_ray.eval.linear_probe import linear_probe

log = logging.getLogger(__name__)

MODEL_TITLES = {ENCODER: "encoder", BASELINE: "random-init", COMPARE: "compare"}


def evaluate(features: Features, cfg: EvalConfig, seed: int) -> dict[str, dict]:
    """Linear probe and kNN of every model in ``features``, reported on ``test/`` (else ``val/``)."""
    present = set(features.splits.tolist())
    test_split = "test" if "test" in present else "val"
    has_val = "val" in present and test_split == "test"
    results = {}
    for model in features.values:
        log.info("probing %s features (reporting on %s)", MODEL_TITLES[model], test_split)
        train, test = features.split("train", model), features.split(test_split, model)
        val = features.split("val", model) if has_val else None
        linear = linear_probe(train, test, cfg.probe_cs, val, cfg.val_fraction, cfg.max_iter, seed)
        knn_train = train if val is None else (np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]]))
        results[model] = {"linear": linear, "knn": knn_probe(knn_train, test, cfg.knn_k)}
    return {"split": test_split, "models": results}


def run_probe(encoder_uri: str, dataset: str, cfg: Config, json_out: str | None = None) -> dict:
    """Extract features of ``encoder_uri`` and its baseline on ``dataset``, probe both, optionally write JSON."""
    run_data_in(cfg.ray.training_label)  # its datasets run on the training nodes (encoder inference)
    info = load_encoder(encoder_uri).info  # fails fast, before any Ray work, on a bad export
    data = load_dataset(dataset)
    # The version resolved above (not ROOT/export again): every actor loads the same weights.
    features = extract_features(data.rows, info["id"], cfg.eval, baseline_seed=cfg.seed)
    report = {
        "encoder": info,
        "baseline": {"architecture": info["architecture"], "init": "random", "seed": cfg.seed},
        "dataset": data.describe(),
        **evaluate(features, cfg.eval, cfg.seed),
        "config": cfg.model_dump(mode="json"),
    }
    if json_out:
        storage.write_json(json_out, report)
    return report


def format_report(report: dict) -> str:
    """The probe numbers of both models side by side, as a small text table."""
    models = list(report["models"])
    sizes = report["dataset"]["splits"]
    lines = [
        f"dataset {report['dataset']['name']}: {len(report['dataset']['classes'])} classes, "
        + ", ".join(f"{split} {n}" for split, n in sizes.items())
        + f"; reported on {report['split']}",
        f"encoder {report['encoder']['id']} ({report['encoder']['architecture']})",
        f"{'':28}" + "".join(f"{MODEL_TITLES[m]:>14}" for m in models),
    ]
    for probe, title in (("linear", "linear probe"), ("knn", f"kNN (k={report['models'][models[0]]['knn']['k']})")):
        for metric, metric_title in (("top1", "top-1"), ("mean_per_class", "mean per-class")):
            row = "".join(f"{100 * report['models'][m][probe][metric]:13.1f}%" for m in models)
            lines.append(f"{title + ' ' + metric_title:28}{row}")
    return "\n".join(lines)
