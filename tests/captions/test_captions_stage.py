import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import ray

from synclr_ray import rows, storage
from synclr_ray.captions import stage
from synclr_ray.captions.postprocess import normalise
from synclr_ray.captions.prompts import caption_id
from synclr_ray.config import load_config
from synclr_ray.pipeline import StreamControl
from synclr_ray.runroot import RunRoot

FAST = ["captions.backgrounds=generic", "captions.max_new_tokens=30", "captions.batch_size=8"]


def test_transformers_engine_through_ray_data(ray_cluster):
    cfg = load_config("tiny", FAST)
    marked = stage.CaptionStage(cfg).marked(stage.prompt_dataset(cfg, start=100, count=8)).take_all()
    planner = stage.prompt_planner(cfg, None)
    assert sorted(r["index"] for r in marked) == list(range(100, 108))
    for row in marked:
        planned = planner.plan(row["index"])
        assert row["caption_id"] == caption_id(cfg.seed, row["index"])
        assert (row["concept"], row["template"], row["seed"]) == (
            planned["concept"],
            planned["template"],
            planned["seed"],
        )
        assert row["status"] in ("ok", "empty", "too_short", "too_long")
        assert "\n" not in row["caption"] and row["caption"] == row["caption"].strip()
    ok = [r for r in marked if r["status"] == "ok"]
    assert len(ok) >= 4 and all(len(r["caption"].split()) >= cfg.captions.min_words for r in ok)


def test_rows_failing_a_rule_are_dropped_and_counted_by_rule(ray_cluster):
    control = StreamControl.remote(None, None, 1000)
    planned = [
        {**stage.prompt_planner(load_config("tiny", FAST), None).plan(i), "index": i, "epoch": 0} for i in range(4)
    ]
    marked = rows.to_table(planned, rows.PROMPT_SCHEMA).drop_columns(["prompt"])
    marked = marked.append_column("caption", pa.array(["a red ball", "", "red", "a blue cube"]))
    marked = marked.append_column("status", pa.array(["ok", "empty", "too_short", "ok"]))
    kept = stage._ok_rows(marked, rows.CAPTION_SCHEMA, control)
    assert kept.schema == rows.CAPTION_SCHEMA and kept["caption"].to_pylist() == ["a red ball", "a blue cube"]
    assert ray.get(control.report.remote())["stages"]["captions"]["dropped"] == {"empty": 1, "too_short": 1}


@pytest.mark.slow
def test_resume_after_injected_failure_on_s3(ray_cluster, s3_bucket, monkeypatch):
    root = f"{s3_bucket}/run"
    cfg = load_config("tiny", [*FAST, "captions.num_captions=10", "captions.round_size=5"])
    out = RunRoot(root).captions
    real_commit = stage._commit_round
    calls = []

    def commit_then_crash(out, info):
        calls.append(info["name"])
        if len(calls) == 2:  # round 1's files are published, its commit never happens
            raise RuntimeError("injected failure")
        return real_commit(out, info)

    monkeypatch.setattr(stage, "_commit_round", commit_then_crash)
    with pytest.raises(RuntimeError, match="injected"):
        stage.run_captions(cfg, root)
    first_round = {r["caption_id"] for f in rows.CommitLog(out).files() for r in _rows(f)}
    assert len(first_round) == 5
    assert storage.list_files(storage.join(out, "round-00001"), ".parquet")  # published but never committed

    monkeypatch.setattr(stage, "_commit_round", real_commit)
    manifest = stage.run_captions(cfg, root)
    written = [r for f in rows.CommitLog(out).files() for r in _rows(f)]
    assert len(written) == manifest["num_captions"] == 10
    assert len({r["caption_id"] for r in written}) == 10
    assert len({normalise(r["caption"]) for r in written}) == 10
    assert first_round <= {r["caption_id"] for r in written}  # nothing committed was lost or redone
    assert (
        pq.read_schema(storage.filesystem(rows.CommitLog(out).files()[0])[1], filesystem=storage.filesystem(out)[0])
        == rows.CAPTION_SCHEMA
    )
    assert all(r["epoch"] == 0 and r["caption_id"] == caption_id(cfg.seed, r["index"]) for r in written)
    assert sum(manifest["by_source"].values()) == sum(manifest["by_template"].values()) == 10
    assert manifest["prompts"] >= 10 + manifest["duplicates"] + sum(manifest["filtered"].values())
    assert load_config(storage.join(out, "_config.yaml")) == cfg
    assert storage.read_json(storage.join(out, "_manifest.json"))["num_captions"] == 10
    fs, path = storage.filesystem(out)  # the folder opens as-is: _commits/, _manifest.json, _config.yaml skipped
    assert len(pd.read_parquet(path, filesystem=fs)) == 10
    assert pads.dataset(path, filesystem=fs).schema == rows.CAPTION_SCHEMA

    again = stage.run_captions(cfg, root)  # idempotent: nothing left to do
    assert again["rounds"] == manifest["rounds"] and again["prompts"] == manifest["prompts"]
    with pytest.raises(ValueError, match="made with captions seed=0"):
        stage.run_captions(load_config("tiny", [*FAST, "seed=1"]), root)


def _rows(uri):
    fs, path = storage.filesystem(uri)
    return pq.read_table(path, filesystem=fs).to_pylist()


def test_backgrounds_are_generated_once_and_used(ray_cluster, root):
    cfg = load_config(
        "tiny",
        [
            *FAST[1:],
            "captions.backgrounds=generate",
            "captions.sources={imagenet1k: 1, dtd: 1}",
            "captions.max_concepts_per_source=3",
        ],  # fmt: skip
    )
    uri = stage.prepare_backgrounds(cfg, root)
    table = pq.read_table(uri)
    assert sorted(table["concept"].to_pylist()) == sorted(stage.load_catalog(cfg.captions)[0].concepts)
    assert all(all(b and ";" not in b for b in bgs) for bgs in table["backgrounds"].to_pylist())
    written = storage.read_bytes(uri)
    assert stage.prepare_backgrounds(cfg, root) == uri and storage.read_bytes(uri) == written  # cached, not redone
    assert not rows.CommitLog(RunRoot(root).captions).files()  # caption readers never see it
    with pytest.raises(ValueError, match="captions.backgrounds: no file"):
        stage.prepare_backgrounds(load_config("tiny", ["captions.backgrounds=/no/such/table.parquet"]), root)
