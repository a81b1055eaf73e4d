"""The streaming pipeline on the tiny preset: LLM -> diffusion -> trainer in one Ray Data plan."""

import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synclr_ray.config import load_config
from synclr_ray.encoder import load_encoder
from synclr_ray.pipeline import run_pipeline

pytestmark = pytest.mark.slow  # every test shares a ~60 s streaming run

# 10 prompts an epoch, 2 epochs of the same captions with fresh seeds, 4 captions a step.
SMALL = ["captions.num_captions=10", "captions.backgrounds=generic", "captions.batch_size=10",
         "images.batch_size=10", "images.num_inference_steps=2",
         "pipeline.epochs=2", "pipeline.fresh_captions=false", "pipeline.write_through=true",
         "train.batch_captions=4", "train.steps=4", "train.optim.warmup_steps=1", "train.checkpoint_every=2",
         "train.log_every=1", "train.loader_tasks=1", "ray.progress_bars=false"]  # fmt: skip


def _stream_rows(root: Path) -> list[dict]:
    return [row for shard in sorted((root / "stream").rglob("*.parquet"))
            for row in pq.read_table(shard, columns=["caption_id", "seeds", "epoch", "images"]).to_pylist()]  # fmt: skip


def _checkpoints(root: Path) -> list[Path]:
    return sorted((root / "train").glob("checkpoint_0*"))


def _state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "state.json").read_text())


@pytest.fixture(scope="module")
def streamed(ray_cluster, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("pipeline")
    return root, run_pipeline(load_config("tiny", SMALL), str(root))


def test_rows_flow_from_llm_through_diffusion_to_the_trainer(streamed):
    root, report = streamed
    stages = report["stages"]
    consumed = 4 * 4  # steps x captions per step
    assert consumed <= stages["images"]["rows"] <= stages["captions"]["rows"]
    rows = _stream_rows(root)
    # Written through under idempotent names: a pass the trainer prefetched again adds no file.
    assert consumed <= len(rows) == len({(row["epoch"], row["caption_id"]) for row in rows})
    assert stages["images"]["rows"] % len(rows) == 0
    assert all(len(row["images"]) == 4 and len(row["seeds"]) == 4 for row in rows)
    assert report["step"] == 4 and _state(_checkpoints(root)[-1])["step"] == 4
    assert load_encoder(report["export"]).info["feature_dim"] == 192
    assert 0 <= report["trainer"]["data_wait"] <= 1


def test_every_epoch_draws_fresh_images_of_the_same_captions(streamed):
    root, _ = streamed
    by_epoch: dict[int, dict[str, list[int]]] = {}
    for row in _stream_rows(root):
        by_epoch.setdefault(row["epoch"], {})[row["caption_id"]] = row["seeds"]
    assert set(by_epoch) == {0, 1}
    shared = set(by_epoch[0]) & set(by_epoch[1])
    assert shared, "the same captions come back in epoch 1 (fresh_captions=false)"
    assert all(not set(by_epoch[0][c]) & set(by_epoch[1][c]) for c in shared)


def test_a_crashed_trainer_resumes_on_the_same_data_position(streamed, tmp_path, kill_a_trainer_when):
    straight_root, _ = streamed
    killed: list[float] = []
    killer = threading.Thread(target=kill_a_trainer_when, args=(tmp_path / "train" / "checkpoint_00000002", killed))
    killer.start()
    report = run_pipeline(load_config("tiny", [*SMALL, "train.max_failures=1"]), str(tmp_path))
    killer.join()
    assert killed, "no trainer process was found to kill"
    assert report["step"] == 4
    # The restarted run neither retrained on nor skipped data: same position as the straight run.
    assert _state(_checkpoints(tmp_path)[-1]) == _state(_checkpoints(straight_root)[-1])
    steps = [json.loads(line)["step"] for line in (tmp_path / "train" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
