"""The streaming pipeline: concepts -> LLM captions -> diffusion images -> crops -> trainer.

One lazy Ray Data plan feeds ``TorchTrainer`` ingest directly, with no materialised dataset in
between: a generative model is the data source. Rows carry their generation ``epoch``; image
seeds (and, with ``pipeline.fresh_captions``, the prompts themselves) depend on it, so every
epoch trains on images never seen before. Generation is deterministic in (run seed, index,
epoch), so a resumed run regenerates exactly the rows it skips.
"""

import io
import json
import logging
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.data import Dataset

from synclr_ray import storage
from synclr_ray.captions.engines import generate
from synclr_ray.captions.postprocess import mark_captions
from synclr_ray.captions.prompts import PromptPlanner
from synclr_ray.captions.stage import (
    CAPTION_COLUMNS,
    PROMPT_COLUMNS,
    keep_ok_rows,
    prepare_backgrounds,
    prompt_blocks,
    prompt_planner,
)
from synclr_ray.cluster import init_ray
from synclr_ray.config import Config
from synclr_ray.images.stage import image_dataset
from synclr_ray.leases import holds_lease
from synclr_ray.runroot import RunRoot, save_config
from synclr_ray.train.stage import export_checkpoint, fit

log = logging.getLogger(__name__)

METER_NAME = "synclr-stage-meter"
BOOKKEEPING_CPUS = 0.25  # metering and write-through are I/O: no whole core each


@ray.remote(num_cpus=0)
class StageMeter:
    """Rows that left each stage since the pipeline started, and when the last of them did."""

    def __init__(self) -> None:
        self.started = time.time()
        self.rows: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def add(self, stage: str, rows: int) -> None:
        self.rows[stage] = self.rows.get(stage, 0) + rows
        self.last[stage] = time.time()

    def report(self) -> dict[str, dict[str, float]]:
        return {
            stage: {"rows": rows, "rows_per_s": rows / max(self.last[stage] - self.started, 1e-3)}
            for stage, rows in self.rows.items()
        }


def _metered(batch: pa.Table, stage: str, meter: Any) -> pa.Table:
    meter.add.remote(stage, batch.num_rows)
    return batch


class EpochPrompts:
    """Ray Data UDF: stream positions -> prompt rows with their generation ``epoch``."""

    def __init__(self, planner: PromptPlanner, per_epoch: int, fresh_captions: bool) -> None:
        self.planner = planner
        self.per_epoch = per_epoch
        self.fresh_captions = fresh_captions

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        positions = batch["id"].astype(np.int64)
        indices = positions if self.fresh_captions else positions % self.per_epoch
        rows = [self.planner.plan(int(i)) for i in indices]
        out = {key: [row[key] for row in rows] for key in rows[0]}
        out["epoch"] = (positions // self.per_epoch).tolist()
        return out


def write_through(batch: pa.Table, out: str) -> pa.Table:
    """Ray Data UDF: write a batch of image rows to an idempotent, atomic shard and pass the rows on."""
    if batch.num_rows:
        epoch = int(batch.column("epoch")[0].as_py())
        first = batch.column("caption_id")[0].as_py()
        sink = io.BytesIO()
        pq.write_table(batch, sink)
        storage.write_bytes(storage.join(out, f"epoch-{epoch:05d}", f"{first}.parquet"), sink.getvalue())
    return batch


def stream_dataset(cfg: Config, root: str, meter: Any) -> Dataset:
    """The lazy plan from prompt positions to image rows (``epochs * captions.num_captions`` prompts)."""
    per_epoch = cfg.captions.num_captions
    total = cfg.pipeline.epochs * per_epoch
    needed = cfg.train.steps * cfg.train.batch_captions
    if total < needed:
        # The trainer would start a second pass over the same seeds: identical images again.
        log.warning("pipeline: %d prompts (pipeline.epochs x captions.num_captions) for %d captions that "
                    "train.steps x train.batch_captions need; raise pipeline.epochs", total, needed)  # fmt: skip
    planner = prompt_planner(cfg, prepare_backgrounds(cfg, root))
    prompts = ray.data.range(total, override_num_blocks=prompt_blocks(cfg, total)).map_batches(
        EpochPrompts(planner, per_epoch, cfg.pipeline.fresh_captions)
    )
    columns = [*CAPTION_COLUMNS, "epoch"]
    captions = (
        generate(prompts, cfg, [*PROMPT_COLUMNS, "epoch"])
        .map_batches(
            mark_captions, fn_kwargs={"min_words": cfg.captions.min_words, "max_words": cfg.captions.max_words}
        )
        .map_batches(keep_ok_rows, fn_kwargs={"columns": columns})
        .map_batches(_metered, fn_args=("captions", meter), batch_format="pyarrow", num_cpus=BOOKKEEPING_CPUS)
    )
    images = image_dataset(cfg, captions)
    if cfg.pipeline.write_through:
        images = images.map_batches(write_through, fn_kwargs={"out": RunRoot(root).stream}, batch_format="pyarrow",
                                    num_cpus=BOOKKEEPING_CPUS)  # fmt: skip
    return images.map_batches(_metered, fn_args=("images", meter), batch_format="pyarrow", num_cpus=BOOKKEEPING_CPUS)


@holds_lease("train")  # the streaming run writes what `pretrain` writes: ROOT/train, ROOT/export
def run_pipeline(cfg: Config, root: str, steps: int | None = None) -> dict[str, Any]:
    """Generate and train in one streaming run, then export; resumes from ROOT/train's latest checkpoint."""
    run = RunRoot(root)
    init_ray(cfg.ray)
    save_config(cfg, root)
    meter = StageMeter.options(name=METER_NAME, get_if_exists=True).remote()
    started = time.perf_counter()
    result = fit(cfg, stream_dataset(cfg, root, meter), run.train, steps)
    if result.checkpoint is None:
        raise RuntimeError(f"the streaming run under {run.train} produced no checkpoint")
    state, export = export_checkpoint(cfg, result.checkpoint, run.export)
    stages = ray.get(meter.report.remote())
    ray.kill(meter)
    report = {
        "step": state.step,
        "seconds": time.perf_counter() - started,
        "stages": stages,
        "trainer": {
            **_trainer_summary(run.train),
            "skipped_steps": state.skipped_steps,
            "bad_records": state.bad_records,
        },  # fmt: skip
        "train": run.train,
        "export": export,
        "stream": run.stream if cfg.pipeline.write_through else None,
    }
    storage.write_json(storage.join(root, "pipeline.json"), report)
    return report


def _trainer_summary(train_dir: str) -> dict[str, float]:
    """Mean throughput and data-wait fraction over the trainer's logged windows."""
    uri = storage.join(train_dir, "metrics.jsonl")
    records = [json.loads(line) for line in storage.read_text(uri).splitlines()] if storage.exists(uri) else []
    if not records:
        return {}
    return {
        "images_per_s": float(np.mean([r["images_per_s"] for r in records])),
        "data_wait": float(np.mean([r["data_wait"] for r in records])),
    }
