"""A run root's layout: every stage's output under one root, local roots made absolute, configs saved beside."""

import os

from synclr_ray import storage
from synclr_ray.config import load_config
from synclr_ray.runroot import CONFIG_FILE, RunRoot, save_config


def test_each_stage_has_its_folder_under_the_root(s3_bucket):
    run = RunRoot(f"{s3_bucket}/exp/")
    assert run.root == f"{s3_bucket}/exp/"  # object-store roots are kept as given
    assert [run.captions, run.images, run.train, run.export, run.eval, run.figures, run.stream] == [
        f"{s3_bucket}/exp/{name}" for name in ("captions", "images", "train", "export", "eval", "figures", "stream")
    ]


def test_a_relative_local_root_is_made_absolute(tmp_path, monkeypatch):
    # Ray workers run in other directories: a relative root must name the same place there.
    monkeypatch.chdir(tmp_path)
    run = RunRoot("runs/x")
    assert run.root == str(tmp_path / "runs" / "x") and os.path.isabs(run.images)


def test_the_resolved_config_is_saved_as_underscore_metadata(tmp_path):
    cfg = load_config("tiny", ["captions.temperature=0.3"])
    uri = save_config(cfg, str(tmp_path / "captions"))
    assert uri.endswith(f"/captions/{CONFIG_FILE}") and CONFIG_FILE.startswith("_")
    assert load_config(uri) == cfg
    assert storage.read_text(uri) == cfg.to_yaml()
