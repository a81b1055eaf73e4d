"""A run root remembers its config: later commands use it, and changes to what committed stages used are refused."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml

SYNCLR = str(Path(sys.executable).parent / "synclr")
NO_IMAGES = "run `synclr images`"  # what `synclr pretrain` says on a root without images, past its config


@pytest.fixture
def _synclr(ray_cluster):
    """Run `synclr`; commands that get past their config join this session's cluster, as jobs on one cluster do."""
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SYNCLR, *args], capture_output=True, text=True, timeout=120, env=env)

    return run


def _remembered(root: Path) -> dict:
    return yaml.safe_load((root / "config.yaml").read_text())


def test_the_first_command_writes_the_config_and_later_ones_use_it(tmp_path, _synclr):
    root = tmp_path / "run"
    first = _synclr("pretrain", "--root", str(root), "--config", "paper-vitb16", "--set", "train.steps=60000")
    assert NO_IMAGES in first.stderr and _remembered(root)["name"] == "paper-vitb16"
    (root / "train").mkdir()
    (root / "train" / "metrics.jsonl").write_text("{}\n")  # a committed training stage
    # No --config: the root's own config, not the tiny preset (which would be refused below).
    second = _synclr("pretrain", "--root", str(root), "--set", "train.steps=70000", "--set", "serve.port=9000")
    assert NO_IMAGES in second.stderr, second.stderr  # train.steps and serve.* are safe to change
    assert _remembered(root)["train"]["steps"] == 70000 and _remembered(root)["name"] == "paper-vitb16"


def test_a_change_to_what_a_committed_stage_used_is_refused_unless_allowed(tmp_path, _synclr):
    root = tmp_path / "run"
    (root / "captions").mkdir(parents=True)
    (root / "captions" / "part-0.parquet").write_bytes(b"rows")  # committed captions
    assert NO_IMAGES in _synclr("pretrain", "--root", str(root)).stderr  # remembers tiny
    changed = ["--set", "captions.temperature=0.5", "--set", "images.guidance_scale=3.0"]
    refused = _synclr("pretrain", "--root", str(root), *changed)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "captions.temperature: 0.8 -> 0.5" in refused.stderr and "--allow-change" in refused.stderr
    assert "images.guidance_scale" not in refused.stderr  # no images committed yet: free to change
    assert _remembered(root)["captions"]["temperature"] == 0.8  # nothing remembered from a refused command
    allowed = _synclr("pretrain", "--root", str(root), *changed, "--allow-change", "captions.temperature")
    assert NO_IMAGES in allowed.stderr, allowed.stderr
    assert _remembered(root)["captions"]["temperature"] == 0.5
