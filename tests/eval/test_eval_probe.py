import json
from dataclasses import replace

import numpy as np
import pytest

from synclr_ray.config import load_config
from synclr_ray.eval.features import BASELINE, ENCODER
from synclr_ray.eval.knn import knn_probe
from synclr_ray.eval.linear_probe import linear_probe
from synclr_ray.eval.probe import evaluate, format_report, run_probe

OVERRIDES = ["eval.probe_cs=[0.1, 1.0, 10.0]", "eval.knn_k=5", "ray.progress_bars=false", "seed=7"]


def test_probe_reports_encoder_and_baseline_side_by_side(ray_cluster, tiny_export, colour_folder, tmp_path):
    cfg = load_config("tiny", OVERRIDES)
    out = tmp_path / "probe.json"
    report = run_probe(tiny_export, colour_folder, cfg, str(out))
    # colour classes are separable even for random features: the harness must find that
    for model in (ENCODER, BASELINE):
        assert report["models"][model]["linear"]["top1"] >= 0.9
        assert report["models"][model]["knn"]["top1"] >= 0.9
    saved = json.loads(out.read_text())
    assert saved["models"] == json.loads(json.dumps(report["models"]))
    assert saved["split"] == "test" and saved["dataset"]["splits"] == {"train": 36, "test": 18}
    assert saved["encoder"]["id"] == tiny_export and saved["encoder"]["digest"].startswith("sha256:")
    assert saved["baseline"] == {"architecture": "vit_tiny_patch16_224", "init": "random", "seed": 7}
    assert saved["config"]["eval"]["knn_k"] == 5
    table = format_report(report)
    assert "encoder" in table and "random-init" in table and "kNN (k=5) top-1" in table


def test_shuffled_labels_give_chance(colour_features):
    cfg = load_config("tiny", OVERRIDES).eval
    rng = np.random.default_rng(0)
    top1 = []
    for _ in range(3):
        shuffled = replace(colour_features, labels=rng.permutation(colour_features.labels))
        train, test = shuffled.split("train"), shuffled.split("test")
        top1 += [linear_probe(train, test, cfg.probe_cs)["top1"], knn_probe(train, test, cfg.knn_k)["top1"]]
    assert abs(np.mean(top1) - 1 / 3) < 0.15


def test_val_folder_picks_c_and_test_folder_is_reported(colour_features):
    cfg = load_config("tiny", OVERRIDES).eval
    splits = colour_features.splits.copy()
    splits[np.flatnonzero(splits == "train")[::3]] = "val"
    result = evaluate(replace(colour_features, splits=splits), cfg, seed=0)
    assert result["split"] == "test"
    assert result["models"][ENCODER]["linear"]["top1"] >= 0.9


def test_encoder_without_export_files_fails_before_any_work(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="lacks model.safetensors"):
        run_probe(str(tmp_path), "digits", load_config("tiny", OVERRIDES))
