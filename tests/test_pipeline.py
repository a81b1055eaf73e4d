"""The streaming pipeline: where the stream starts, the write-through, and runs on the tiny preset."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
from synclr_runs import run_synclr

from synclr_ray import rows
from synclr_ray.captions.stage import CaptionStage, prompt_planner
from synclr_ray.config import load_config
from synclr_ray.pipeline import PromptSource, StreamControl, StreamPlan, StreamWriter, rows_in_flight, run_pipeline

# 4 steps of 4 captions, checkpoints at 2 and 4; prompt blocks of 16 (8 engine batches of 2).
SMALL = ["captions.backgrounds=generic", "captions.batch_size=2", "images.batch_size=4",
         "images.num_inference_steps=2", "train.batch_captions=4", "train.steps=4", "train.optim.warmup_steps=1",
         "train.checkpoint_every=2", "train.log_every=1", "train.loader_tasks=1", "ray.progress_bars=false"]  # fmt: skip


def _image_rows(keys: list[tuple[int, int]]):
    return rows.to_table(
        [{"caption_id": f"c{i}", "index": i, "epoch": e, "caption": "a fox", "concept": "fox", "concept_source": "s",
          "template": "c", "seed": i, "images": [b"jpeg"], "seeds": [i], "width": 8, "height": 8, "generator": "{}"}
         for e, i in keys],
        rows.IMAGE_SCHEMA,
    )  # fmt: skip


def test_stream_positions_name_row_keys():
    cycle = StreamPlan(5)
    indices, epochs = cycle.keys(np.arange(3, 13))
    assert list(zip(epochs.tolist(), indices.tolist(), strict=True))[:3] == [(0, 3), (0, 4), (1, 0)]
    assert [cycle.position(k) for k in [(0, 3), (1, 0), (2, 2), (1, 5)]] == [3, 5, 12, 10]
    assert StreamPlan(None).position((0, 42)) == 42


def test_the_source_starts_where_training_stands(ray_cluster):
    control = StreamControl.remote(None, 5, 1000)
    source = PromptSource(prompt_planner(load_config("tiny", SMALL), None), control, 5, end=19, block_rows=4)

    def streamed() -> list[tuple[int, int]]:
        return [(row["epoch"], row["index"]) for row in ray.data.read_datasource(source).take_all()]

    ray.get(control.resume_at.remote(None))  # a fresh run
    assert streamed() == [(p // 5, p % 5) for p in range(19)]
    # A checkpoint trained everything before epoch 1 index 2 (position 7), and positions 9 and 10 too.
    ray.get(control.resume_at.remote({"next": [1, 2], "trained": [[1, 4], [2, 0]]}))
    assert streamed() == [(p // 5, p % 5) for p in range(7, 19) if p not in (9, 10)]
    assert ray.get(control.report.remote())["executions"] == 2


def test_generation_runs_ahead_of_training_by_a_bounded_number_of_rows(ray_cluster):
    control = StreamControl.remote(None, None, 8)

    def admit(start: int) -> bool:
        return ray.get(control.admit.remote(start, start + 4))

    def captioned(*indices: int) -> None:
        ray.get(control.add.remote("captions", [(0, i) for i in indices]))

    assert admit(0) and admit(4) and not admit(8)  # 8 positions that may each become a row
    captioned(0, 1, 3)  # 2 fell to post-processing
    assert not admit(8)  # 3 captions + 4 positions not captioned yet: 4 more would pass the limit
    ray.get(control.trained.remote([0, 3]))
    assert admit(8) and not admit(12)  # the trainer took the 3 captions: 4 positions out, then 8
    captioned(5, 6, 11)
    assert admit(12)  # 3 captions not trained yet, every planned position captioned


def test_the_next_block_is_admitted_while_an_engine_batch_waits_to_fill(ray_cluster):
    # The LLM runs whole batches of captions.batch_size: a block's last prompts wait in the engine for the
    # next block. With the trainer holding all it may, the source must still be let through (the demo's sizes).
    cfg = load_config("tiny", ["train.batch_captions=4"])
    block, batch = CaptionStage(cfg).block_rows, cfg.captions.batch_size
    control = StreamControl.remote(None, None, rows_in_flight(cfg))
    assert ray.get(control.admit.remote(0, block))
    captioned = block - (batch - 1)
    ray.get(control.add.remote("captions", [(0, i) for i in range(captioned)]))
    held = (cfg.train.prefetch_batches + 2) * cfg.train.batch_captions  # prefetched, in training, in the iterator
    ray.get(control.trained.remote([0, captioned - held - 1]))
    assert ray.get(control.admit.remote(block, 2 * block))


def test_the_write_through_replays_what_a_resumed_run_has_not_trained(ray_cluster, tmp_path):
    out = str(tmp_path / "stream")
    control = StreamControl.remote(out, None, 1000)
    ray.get(control.resume_at.remote(None))
    first = StreamWriter(out, control, None)
    for batch in ([(0, 0), (0, 1), (0, 3)], [(0, 4), (0, 5), (0, 7)]):  # 2 and 6 fell to post-processing
        assert [rows.row_keys(t) for t in first(_image_rows(batch))] == [batch]
    # The crash: training had reached position 2 (and trained 5 on a faster rank); 0..7 were drawn.
    ray.get(control.resume_at.remote({"next": [0, 2], "trained": [[0, 5]]}))
    assert ray.get(control.current_plan.remote())["generate_from"] == 8  # nothing before 8 is drawn again
    second = StreamWriter(out, control, None)
    assert [rows.row_keys(t) for t in second(_image_rows([(0, 8), (0, 9)]))] == [
        [(0, 3)],
        [(0, 4), (0, 7)],
        [(0, 8), (0, 9)],
    ]
    list(first(_image_rows([(0, 10)])))  # the plan being torn down writes one more batch: never committed
    committed = pd.concat(pd.read_parquet(f) for f in rows.CommitLog(out).files())
    assert committed["index"].tolist() == [0, 1, 3, 4, 5, 7, 8, 9]


# Two commands of 4 steps on one root (checkpoints at 4 and 8), or one run of 8 killed once step 5 has run.
EIGHT = [*SMALL, "train.steps=8", "train.checkpoint_every=4", "train.max_failures=1"]


def test_a_restart_counts_the_positions_it_generates_again(ray_cluster):
    control = StreamControl.remote(None, None, 1000)
    ray.get(control.resume_at.remote(None))
    control.add.remote("images", [(0, i) for i in range(10)])  # generated 0..9, trained up to 4 when it crashed
    ray.get(control.resume_at.remote({"next": [0, 4], "trained": []}))
    report = ray.get(control.report.remote())
    assert (report["generated_from"], report["regenerated"], report["stages"]["images"]["rows"]) == (4, 6, 10)


def _pipeline_cli(root: Path, overrides: list[str], *options: str) -> dict:
    args = [
        "pipeline",
        "--root",
        str(root),
        "--config",
        "tiny",
        *options,
        *[a for o in overrides for a in ("--set", o)],
    ]
    result = run_synclr(*args)
    assert result.code == 0, result.err
    return json.loads((root / "pipeline.json").read_text())


def _committed_stream(root: Path) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(f) for f in rows.CommitLog(str(root / "stream")).files())


def _final_state(root: Path) -> dict:
    return json.loads(max((root / "train").glob("checkpoint_0*/state.json")).read_text())


def _metric_steps(root: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (root / "train" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow  # two streaming runs; tests/test_demo.py checks one streaming run's outputs
def test_a_rerun_resumes_generation_at_the_stored_stream_position(ray_cluster, tmp_path):
    first = _pipeline_cli(tmp_path, EIGHT, "--steps", "4")
    stored = _final_state(tmp_path)["stream"]["next"]
    second = _pipeline_cli(tmp_path, EIGHT)
    assert (first["step"], first["executions"], second["step"], second["executions"]) == (4, 1, 8, 1)
    assert _metric_steps(tmp_path) == list(range(1, 9))
    assert first["generated_from"] == 0 and second["generated_from"] == stored[1] >= 16  # 4 steps of 4 captions
    # Each command stops with at most `rows_in_flight` rows drawn but not trained.
    bound = 8 * 4 + 2 * rows_in_flight(load_config("tiny", EIGHT))
    assert all(first["stages"][s]["rows"] + second["stages"][s]["rows"] <= bound for s in ("captions", "images"))


def _kill_after_step(root: Path, step: int, kill, killed: list[float]) -> None:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if (root / "train" / "metrics.jsonl").exists() and max(_metric_steps(root), default=0) >= step:
            kill(root / "train" / "metrics.jsonl", killed)
            return
        time.sleep(0.2)


@pytest.mark.slow
def test_a_crashed_trainer_resumes_from_the_write_through_without_generating_again(
    ray_cluster, tmp_path, kill_a_trainer_when
):
    killed: list[float] = []
    killer = threading.Thread(target=_kill_after_step, args=(tmp_path, 5, kill_a_trainer_when, killed))
    killer.start()
    cfg = load_config("tiny", [*EIGHT, "pipeline.write_through=true"])
    report = run_pipeline(cfg, str(tmp_path))
    killer.join()
    assert killed, "no trainer process was found to kill"
    assert report["step"] == 8 and report["executions"] == 2  # one per training attempt
    assert _metric_steps(tmp_path) == list(range(1, 9))
    assert _final_state(tmp_path)["step"] == 8
    stream = _committed_stream(tmp_path)
    keys = list(zip(stream["epoch"], stream["index"], strict=True))
    assert 8 * 4 <= len(keys) == len(set(keys)) and keys == sorted(keys)  # in stream order, none written twice
    # The restart resumes training at step 4's checkpoint but generation after the write-through's last row,
    # past the 5th step's rows, which were generated, written through and trained before the kill.
    assert report["generated_from"] >= 5 * 4
    assert report["regenerated"] <= rows_in_flight(cfg)  # only rows in flight at the kill are drawn again
    # Each attempt stopped with at most `rows_in_flight` rows drawn but not trained.
    assert report["stages"]["images"]["rows"] <= 8 * 4 + 2 * rows_in_flight(cfg)
