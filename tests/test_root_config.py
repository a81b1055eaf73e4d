"""A run root remembers its config: later commands use it, and changes to what committed stages used are refused."""

from pathlib import Path

import pytest
import yaml

from synclr_ray.config import ConfigError, load_config
from synclr_ray.root_config import committed_stages, root_config
from synclr_ray.runroot import CONFIG_FILE, save_config


def _remembered(root: Path) -> dict:
    return yaml.safe_load((root / "config.yaml").read_text())


def test_the_first_command_writes_the_config_and_later_ones_use_it(tmp_path):
    root = tmp_path / "run"
    assert root_config(str(root), "paper-vitb16", ["train.steps=60000"]).name == "paper-vitb16"
    assert _remembered(root)["name"] == "paper-vitb16"
    (root / "train").mkdir()
    (root / "train" / "metrics.jsonl").write_text("{}\n")  # a committed training stage
    assert committed_stages(str(root)) == ["train"]
    # No source: the root's own config, not the tiny preset; train.steps and serve.* are safe to change.
    cfg = root_config(str(root), None, ["train.steps=70000", "serve.port=9000"])
    assert cfg.name == "paper-vitb16" and cfg.train.steps == 70000 and cfg.serve.port == 9000
    assert _remembered(root)["train"]["steps"] == 70000


def test_a_change_to_what_a_committed_stage_used_is_refused_unless_allowed(tmp_path):
    root = tmp_path / "run"
    (root / "captions").mkdir(parents=True)
    (root / "captions" / "part-0.parquet").write_bytes(b"rows")  # committed captions
    assert root_config(str(root), None).name == "tiny"
    changed = ["captions.temperature=0.5", "images.guidance_scale=3.0"]
    with pytest.raises(ConfigError, match=r"captions\.temperature: 0\.8 -> 0\.5") as refused:
        root_config(str(root), None, changed)
    assert "images.guidance_scale" not in str(refused.value)  # no images committed yet: free to change
    assert _remembered(root)["captions"]["temperature"] == 0.8  # nothing remembered from a refused call
    assert root_config(str(root), None, changed, allow_change=["captions.temperature"]).captions.temperature == 0.5
    assert _remembered(root)["captions"]["temperature"] == 0.5


def test_a_streaming_run_protects_the_captions_and_images_it_generated_on_the_fly(tmp_path):
    root = tmp_path / "run"
    assert root_config(str(root), None).name == "tiny"
    (root / "train").mkdir()
    (root / "train" / "state.json").write_text("{}")  # a checkpoint of `synclr pipeline`, which also wrote:
    save_config(load_config("tiny"), str(root))
    with pytest.raises(ConfigError, match=r"committed train, pipeline .*images\.guidance_scale: 2\.5 -> 3\.0"):
        root_config(str(root), None, ["images.guidance_scale=3.0"])
    (root / CONFIG_FILE).unlink()  # ROOT/train from `synclr pretrain` on images read from elsewhere
    assert root_config(str(root), None, ["images.guidance_scale=3.0"]).images.guidance_scale == 3.0


def test_a_broken_remembered_config_names_its_file(tmp_path):
    (tmp_path / "config.yaml").write_text("train: {steps: -1}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: .*train\.steps.*fix or remove"):
        root_config(str(tmp_path), None)
