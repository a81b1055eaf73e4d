"""`synclr` on a run root as a user types it: the root's config is used, a refused change is one line naming the fields."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml

from synclr_ray.root_config import root_config

SYNCLR = str(Path(sys.executable).parent / "synclr")
NO_IMAGES = "run `synclr images`"  # what `synclr pretrain` says on a root without images, past its config


@pytest.fixture
def _synclr(ray_cluster):
    """Run `synclr`; commands that get past their config join this session's cluster, as jobs on one cluster do."""
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SYNCLR, *args], capture_output=True, text=True, timeout=120, env=env)

    return run


@pytest.mark.slow  # two `synclr` processes, one joining Ray: ~25 s
def test_a_refused_change_is_one_line_and_allow_change_lets_it_through(tmp_path, _synclr):
    root = tmp_path / "run"
    root_config(str(root), "tiny")  # remembered by an earlier command
    (root / "captions").mkdir()
    (root / "captions" / "part-0.parquet").write_bytes(b"rows")  # committed captions
    refused = _synclr("pretrain", "--root", str(root), "--set", "captions.temperature=0.5")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "captions.temperature: 0.8 -> 0.5" in refused.stderr and "--allow-change" in refused.stderr
    allowed = _synclr(
        "pretrain", "--root", str(root), "--set", "captions.temperature=0.5", "--allow-change", "captions.temperature"
    )
    assert NO_IMAGES in allowed.stderr, allowed.stderr  # past its config: it joined the cluster and looked for images
    assert yaml.safe_load((root / "config.yaml").read_text())["captions"]["temperature"] == 0.5
