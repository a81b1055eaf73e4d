"""The ``vllm`` engine for real (vLLM's CPU build, `make test-vllm` in .venv-vllm): the tiny Llama through
``ray.data.llm`` inside the normal caption stage, and an engine failure that ends the command with its cause."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synclr_ray import rows as contract
from synclr_ray.captions import stage
from synclr_ray.captions.postprocess import STATUSES, normalise
from synclr_ray.config import load_config
from synclr_ray.runroot import RunRoot

pytest.importorskip("vllm", reason="the vllm tier runs in .venv-vllm (make test-vllm)")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may reach the hub; the session's Ray workers inherit it
pytestmark = pytest.mark.vllm

ENGINE = ["captions.engine=vllm", "captions.num_gpus=0", "captions.num_cpus=1", "captions.backgrounds=generic",
          "captions.max_new_tokens=30", "captions.batch_size=8", "ray.progress_bars=false"]  # fmt: skip


def _rows(files: list[str]) -> list[dict]:
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_vllm_captions_are_unique_post_processed_and_resume_after_a_crash(ray_cluster, root, monkeypatch):
    cfg = load_config("tiny", [*ENGINE, "captions.num_captions=10", "captions.round_size=5"])
    real_round = stage._run_round
    calls = []

    def crash_in_round_1(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # round 0 is committed; the run dies as round 1 starts (one engine start less)
            raise RuntimeError("injected failure")
        return real_round(*args, **kwargs)

    monkeypatch.setattr(stage, "_run_round", crash_in_round_1)
    with pytest.raises(RuntimeError, match="injected"):
        stage.run_captions(cfg, root)
    first_round = {row["caption_id"] for row in _rows(contract.CommitLog(RunRoot(root).captions).files())}
    assert len(first_round) == 5

    monkeypatch.setattr(stage, "_run_round", real_round)
    manifest = stage.run_captions(cfg, root)
    rows = _rows(contract.CommitLog(RunRoot(root).captions).files())
    assert len(rows) == manifest["num_captions"] == 10 and manifest["engine"] == "vllm"
    assert len({r["caption_id"] for r in rows}) == len({normalise(r["caption"]) for r in rows}) == 10
    assert first_round <= {r["caption_id"] for r in rows}  # nothing committed was lost or redone
    assert set(rows[0]) == set(contract.CAPTION_SCHEMA.names)
    words = [len(r["caption"].split()) for r in rows]
    assert min(words) >= cfg.captions.min_words and max(words) <= cfg.captions.max_words
    assert all("\n" not in r["caption"] and r["caption"] == r["caption"].strip() for r in rows)
    assert set(manifest["filtered"]) == set(STATUSES) - {"ok"}
    assert manifest["prompts"] >= 10 + manifest["duplicates"] + sum(manifest["filtered"].values())


def test_an_engine_whose_kv_cache_cannot_fit_ends_the_command_with_the_cause(tmp_path):
    # As a user runs it: the command's own local Ray cluster (its own temp dir), the engine's log on the console.
    synclr = str(Path(sys.executable).parent / "synclr")
    args = [synclr, "captions", "--root", str(tmp_path / "run"), "--num-captions", "4",
            *[arg for item in [*ENGINE, "captions.vllm.cpu_kv_cache_gib=100000"] for arg in ("--set", item)]]  # fmt: skip
    # Ray's socket paths must stay under AF_UNIX's 107 bytes: pytest's tmp_path can be too deep for them.
    ray_tmp = tempfile.mkdtemp(prefix="synclr-vllm-", dir="/tmp")
    started = time.monotonic()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=1200,
                              env={**os.environ, "RAY_TMPDIR": ray_tmp})  # fmt: skip
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 1
    assert "less than requested memory for kv" in proc.stdout + proc.stderr  # vLLM's own check names it
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert time.monotonic() - started < load_config("tiny").captions.vllm.start_timeout_s
