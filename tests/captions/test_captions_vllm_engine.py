"""The ``vllm`` engine for real (vLLM's CPU build, `make test-vllm` in .venv-vllm): the tiny Llama through
``ray.data.llm`` inside the normal caption stage, and an engine failure that ends the run with its cause."""

import os
import time

import pyarrow.parquet as pq
import pytest

from synclr_ray.captions import stage
from synclr_ray.captions.postprocess import STATUSES, normalise
from synclr_ray.config import load_config

pytest.importorskip("vllm", reason="the vllm tier runs in .venv-vllm (make test-vllm)")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may reach the hub; the session's Ray workers inherit it
pytestmark = pytest.mark.vllm

ENGINE = ["captions.engine=vllm", "captions.num_gpus=0", "captions.num_cpus=1", "captions.backgrounds=generic",
          "captions.max_new_tokens=30", "captions.batch_size=8", "ray.progress_bars=false"]  # fmt: skip


def _rows(files: list[str]) -> list[dict]:
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_vllm_captions_are_unique_post_processed_and_resume_after_a_crash(ray_cluster, root, monkeypatch):
    cfg = load_config("tiny", [*ENGINE, "captions.num_captions=10", "captions.round_size=5"])
    real_commit = stage._commit_round
    calls = []

    def commit_then_crash(progress, info):
        calls.append(info["dir"])
        if len(calls) == 2:  # round 1's files are written, its commit never happens
            raise RuntimeError("injected failure")
        real_commit(progress, info)

    monkeypatch.setattr(stage, "_commit_round", commit_then_crash)
    with pytest.raises(RuntimeError, match="injected"):
        stage.run_captions(cfg, root)
    first_round = {row["caption_id"] for row in _rows(stage.committed_files(root))}
    assert len(first_round) == 5

    monkeypatch.setattr(stage, "_commit_round", real_commit)
    manifest = stage.run_captions(cfg, root)
    rows = _rows(stage.committed_files(root))
    assert len(rows) == manifest["num_captions"] == 10 and manifest["engine"] == "vllm"
    assert len({r["caption_id"] for r in rows}) == len({normalise(r["caption"]) for r in rows}) == 10
    assert first_round <= {r["caption_id"] for r in rows}  # nothing committed was lost or redone
    assert set(rows[0]) == set(stage.CAPTION_COLUMNS)
    words = [len(r["caption"].split()) for r in rows]
    assert min(words) >= cfg.captions.min_words and max(words) <= cfg.captions.max_words
    assert all("\n" not in r["caption"] and r["caption"] == r["caption"].strip() for r in rows)
    assert set(manifest["filtered"]) == set(STATUSES) - {"ok"}
    assert manifest["prompts"] >= 10 + manifest["duplicates"] + sum(manifest["filtered"].values())


def test_an_engine_whose_kv_cache_cannot_fit_fails_with_the_cause(ray_cluster):
    cfg = load_config("tiny", [*ENGINE, "captions.vllm.cpu_kv_cache_gib=100000"])
    started = time.monotonic()
    with pytest.raises(Exception, match="less than requested memory for kv"):  # vLLM's own check, from the actor
        stage.marked_dataset(cfg, 0, 8).take_all()
    assert time.monotonic() - started < cfg.captions.vllm.start_timeout_s
