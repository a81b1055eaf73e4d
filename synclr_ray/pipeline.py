"""The streaming pipeline: prompt positions -> caption stage -> image stage -> trainer, in one execution.

The stages are `Dataset -> Dataset` transforms (`CaptionStage`, `ImageStage`); this module chains
them behind a source of prompt rows, adds bookkeeping (stage meters, the write-through) and feeds
the chain to the trainer (`fit`). Nothing is materialised in between: the generators are the data
source, their actor pools stay warm for the whole run, and the stream is as long as the training
run needs (``train.steps x train.batch_captions``, with ``captions.oversample`` for the captions
post-processing drops), so the plan executes once per training attempt. Generation runs ahead of
training by at most `rows_in_flight` rows, so a fast LLM does not caption the whole run up front.

Stream positions: position ``p`` plans the caption at index ``p`` (or ``p mod N`` in generation
epoch ``p // N`` with ``pipeline.caption_cycle: N``), so a row's ``(epoch, index)`` key says where
it stands. Checkpoints hold the position up to which every row was trained (`train.position`);
a resumed run starts generating there: rows trained before the crash are never drawn again, and
with the write-through on, rows drawn but not yet trained are replayed from ROOT/stream instead
of drawn again.
"""

import io
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.data import ActorPoolStrategy, Dataset, Datasource, ReadTask, TaskPoolStrategy
from ray.data.block import BlockMetadata

from synclr_ray import rows, storage
from synclr_ray.captions.prompts import PromptPlanner
from synclr_ray.captions.stage import CaptionStage, prepare_backgrounds, prompt_planner
from synclr_ray.cluster import BOOKKEEPING
from synclr_ray.config import Config
from synclr_ray.images.stage import ImageStage
from synclr_ray.leases import holds_lease
from synclr_ray.runroot import RunRoot, save_config
from synclr_ray.train.stage import PROBE_FILE, export_checkpoint, fit, stop_step

log = logging.getLogger(__name__)

MAX_READ_TASKS = 10_000  # a longer stream plans more prompts per read task rather than more tasks
ADMIT_POLL_S = 0.2


class StreamPlan:
    """Stream positions <-> row keys, for a stream that may cycle over ``cycle`` captions."""

    def __init__(self, cycle: int | None) -> None:
        self.cycle = cycle

    def position(self, key: rows.Key) -> int:
        epoch, index = key
        return epoch * self.cycle + index if self.cycle else index

    def keys(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, epochs)`` of stream positions."""
        if not self.cycle:
            return positions, np.zeros_like(positions)
        return positions % self.cycle, positions // self.cycle


def rows_in_flight(cfg: Config) -> int:
    """The most rows a stream holds generated but not yet trained: the trainers' prefetched batches,
    the batch in training and the one each data iterator holds, a few batches for each generator
    actor, and for each LLM actor a prompt block plus the engine batch it is still filling. A crash
    generates at most these again."""
    trainer = (cfg.train.prefetch_batches + 2) * cfg.train.batch_captions
    images = 2 * cfg.images.batch_size * cfg.images.pool.max_size
    # An engine batch waits for captions.batch_size prompts: without room for its unfilled part, the
    # source would wait for captions that wait for the source's next block (the demo stalled at step 20).
    captions = (CaptionStage(cfg).block_rows + cfg.captions.batch_size) * cfg.captions.pool.max_size
    return trainer + images + captions


@ray.remote(num_cpus=0)
class StreamControl:
    """The shared state of one streaming run: where generation starts, how far ahead of training it
    may run, what the write-through has committed, the rows that left each stage, and how many
    times the plan was executed.

    Rank 0 of every training attempt calls `resume_at` with the stream position of the checkpoint
    it restored, before any rank reads data, so the plan (which executes only once every rank reads)
    always starts where training stands; it reports every trained batch (`trained`), and the source
    plans a block only while fewer than `rows_in_flight` rows are generated or being generated but
    not yet trained, so a fast LLM cannot run far ahead of the trainer.
    """

    def __init__(self, stream_uri: str | None, cycle: int | None, in_flight: int) -> None:
        self.commits = rows.CommitLog(stream_uri) if stream_uri else None
        self.positions = StreamPlan(cycle)
        self.in_flight = in_flight
        self.attempt = 0
        self.executions = 0
        self.started = time.time()
        self.rows: dict[str, int] = {}
        self.drops: dict[str, Counter[str]] = {}
        self.last: dict[str, float] = {}
        self.generated_to = 0  # one past the last position that left the image stage, in any attempt
        self.regenerated = 0  # positions an attempt generated again because an earlier one had not kept them
        self._start(None)

    def _frontier(self) -> int:
        """The first position after the write-through's last committed row (every position before it is resolved)."""
        entries = self.commits.entries() if self.commits else []
        return max((self.positions.position(tuple(e["last"])) + 1 for e in entries), default=0)

    def _plan(self, position: dict[str, Any] | None) -> dict[str, Any]:
        start = self.positions.position(tuple(position["next"])) if position else 0
        trained = sorted(self.positions.position(tuple(k)) for k in position["trained"]) if position else []
        frontier = self._frontier()
        return {"attempt": self.attempt, "generate_from": max(start, frontier), "replay": [start, frontier],
                "trained": trained}  # fmt: skip

    def _start(self, position: dict[str, Any] | None) -> None:
        self.plan = self._plan(position)
        self.trained_to = self.plan["replay"][0]  # positions before it are trained
        self.admitted_to = self.resolved_to = self.plan["generate_from"]
        self.captioned: set[int] = set()  # positions of captions not trained yet

    def resume_at(self, position: dict[str, Any] | None) -> None:
        """A training attempt starts from ``position`` (its checkpoint's, None for a fresh run)."""
        self.attempt += 1
        self._start(position)
        self.regenerated += max(0, self.generated_to - self.plan["generate_from"])
        log.info("stream: attempt %d generates from position %d", self.attempt, self.plan["generate_from"])

    def trained(self, key: list[int]) -> None:
        """Rank 0 trained the rows up to ``key``."""
        self.trained_to = max(self.trained_to, self.positions.position(tuple(key)) + 1)
        self.captioned = {p for p in self.captioned if p >= self.trained_to}

    def admit(self, start: int, stop: int) -> bool:
        """May the source plan positions ``[start, stop)`` now? Captions not trained yet, positions planned
        but not captioned yet (each may become a row) and the new block must stay within the in-flight limit."""
        ahead = len(self.captioned) + max(0, self.admitted_to - self.resolved_to)
        if ahead + (stop - start) > self.in_flight:
            return False
        self.admitted_to = max(self.admitted_to, stop)
        return True

    def current_plan(self, first_block: bool = False) -> dict[str, Any]:
        """The plan of the current attempt; the read task of the first block counts an execution."""
        self.executions += first_block
        return self.plan

    def commit(self, attempt: int, name: str, files: list[dict[str, Any]], first: list[int], last: list[int]) -> bool:
        """Commit a write-through shard, unless an older attempt (a plan being torn down) wrote it."""
        if attempt != self.attempt or self.commits is None:
            return False
        self.commits.commit(name, files, first=first, last=last)
        return True

    def add(self, stage: str, keys: list[tuple[int, int]]) -> None:
        """Rows with ``keys`` left ``stage``."""
        self.rows[stage] = self.rows.get(stage, 0) + len(keys)
        self.last[stage] = time.time()
        if stage == "images" and keys:
            self.generated_to = max(self.generated_to, max(self.positions.position(key) for key in keys) + 1)
        if stage == "captions" and keys:
            positions = [self.positions.position(key) for key in keys]
            # Rows leave a stage in stream order: every position up to the last one is resolved.
            self.resolved_to = max(self.resolved_to, max(positions) + 1)
            self.captioned.update(p for p in positions if p >= self.trained_to)

    def dropped(self, stage: str, reasons: dict[str, int]) -> None:
        """``stage`` dropped rows: how many for each reason."""
        self.drops.setdefault(stage, Counter()).update(reasons)

    def report(self) -> dict[str, Any]:
        """Rows that left each stage, their rate since the run started and the rows it dropped by reason, the
        plan executions, the stream position the last attempt generated from, and the positions that
        attempts of this run generated again (rows in flight at a crash)."""
        stages = {}
        for stage in dict.fromkeys([*self.rows, *self.drops]):  # in the order rows first left them
            n, seconds = self.rows.get(stage, 0), self.last.get(stage, self.started) - self.started
            stages[stage] = {
                "rows": n,
                "rows_per_s": n / max(seconds, 1e-3),
                "dropped": dict(self.drops.get(stage, {})),
            }
        return {"stages": stages, "executions": self.executions, "generated_from": self.plan["generate_from"],
                "regenerated": self.regenerated}  # fmt: skip


class PromptSource(Datasource):
    """Prompt rows of stream positions ``[start, end)`` in blocks of ``block_rows``, where ``start`` is where
    the current training attempt stands (asked of the `StreamControl` when the plan executes, not when
    it is built), and each block waits for the control's admission (bounded look-ahead)."""

    def __init__(self, planner: PromptPlanner, control: Any, cycle: int | None, end: int, block_rows: int) -> None:
        # Every read task carries its datasource: the planner (the whole concept catalog) goes once to the object store.
        self.planner, self.control, self.positions = ray.put(planner), control, StreamPlan(cycle)
        self.end, self.block_rows = end, block_rows

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None):
        blocks = math.ceil(self.end / self.block_rows)
        per_task = math.ceil(blocks / MAX_READ_TASKS)
        metadata = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
        return [ReadTask(partial(self._read, first, min(per_task, blocks - first)), metadata)
                for first in range(0, blocks, per_task)]  # fmt: skip

    def _read(self, first_block: int, count: int) -> Iterator[pa.Table]:
        plan = ray.get(self.control.current_plan.remote(first_block == 0))
        planner: PromptPlanner = ray.get(self.planner)
        trained = np.asarray(plan["trained"], dtype=np.int64)
        for block in range(first_block, first_block + count):
            start = plan["generate_from"] + block * self.block_rows
            stop = min(start + self.block_rows, self.end)
            if start >= stop:
                return
            while not ray.get(self.control.admit.remote(start, stop)):
                time.sleep(ADMIT_POLL_S)
            positions = np.arange(start, stop, dtype=np.int64)
            positions = positions[~np.isin(positions, trained)]  # trained before a crash: never drawn again
            if len(positions):
                yield planner.table(*self.positions.keys(positions))


class StreamWriter:
    """Ray Data callable on one actor (batches arrive in stream order): writes each batch of image rows
    to ROOT/stream, commits it, and passes it on. A resumed run's first call first replays the
    committed rows the checkpoint had not trained yet."""

    def __init__(self, out: str, control: Any, cycle: int | None) -> None:
        self.out, self.control, self.positions = out, control, StreamPlan(cycle)
        self.plan = ray.get(control.current_plan.remote())
        self.replayed = False

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:
        if not self.replayed:
            self.replayed = True
            yield from self._replay()
        if batch.num_rows:
            keys = rows.row_keys(batch)
            name = f"{keys[0][0]:05d}-{keys[0][1]:012d}"
            sink = io.BytesIO()
            pq.write_table(batch, sink)
            storage.write_bytes(storage.join(self.out, f"{name}.parquet"), sink.getvalue())
            files = [{"path": f"{name}.parquet", "rows": batch.num_rows}]
            ray.get(self.control.commit.remote(self.plan["attempt"], name, files, list(keys[0]), list(keys[-1])))
        yield batch

    def _replay(self) -> Iterator[pa.Table]:
        low, high = self.plan["replay"]
        trained = set(self.plan["trained"])
        for entry in rows.CommitLog(self.out).entries():
            if (
                self.positions.position(tuple(entry["last"])) < low
                or self.positions.position(tuple(entry["first"])) >= high
            ):
                continue
            for f in entry["files"]:
                fs, path = storage.filesystem(storage.join(self.out, f["path"]))
                table = rows.conform(pq.read_table(path, filesystem=fs), rows.IMAGE_SCHEMA, path)
                positions = np.array([self.positions.position(k) for k in rows.row_keys(table)], dtype=np.int64)
                keep = (positions >= low) & (positions < high) & ~np.isin(positions, list(trained))
                if keep.any():
                    yield table.filter(pa.array(keep))


def _metered(batch: pa.Table, stage: str, control: Any) -> pa.Table:
    control.add.remote(stage, rows.row_keys(batch))
    return batch


def stream_length(cfg: Config, steps: int) -> int:
    """Stream positions for a run of ``steps`` from its start: its captions, the rows in flight at its end, and
    the post-processing drops (``captions.oversample`` prompts per caption)."""
    return math.ceil((steps * cfg.train.batch_captions + rows_in_flight(cfg)) * cfg.captions.oversample)


def stream_dataset(cfg: Config, root: str, control: Any, steps: int) -> Dataset:
    """The lazy plan from prompt positions to image rows, for a training run of ``steps``."""
    captions = CaptionStage(cfg, drops=control)
    cycle = cfg.pipeline.caption_cycle
    source = PromptSource(prompt_planner(cfg, prepare_backgrounds(cfg, root)), control, cycle,
                          stream_length(cfg, steps), captions.block_rows)  # fmt: skip
    bookkeeping = {"batch_format": "pyarrow", **BOOKKEEPING}
    # One read task at a time: a block waits there for admission.
    prompts = ray.data.read_datasource(source, num_cpus=BOOKKEEPING["num_cpus"], compute=TaskPoolStrategy(size=1))
    drawn = captions(prompts).map_batches(_metered, fn_args=("captions", control), **bookkeeping)
    images = ImageStage(cfg, drops=control)(drawn).map_batches(_metered, fn_args=("images", control), **bookkeeping)
    if not cfg.pipeline.write_through:
        return images
    return images.map_batches(StreamWriter, fn_constructor_args=(RunRoot(root).stream, control, cycle),
                              compute=ActorPoolStrategy(size=1), batch_format="pyarrow",
                              num_cpus=BOOKKEEPING["num_cpus"])  # fmt: skip


@holds_lease("train")  # the streaming run writes what `pretrain` writes: ROOT/train, ROOT/export
def run_pipeline(cfg: Config, root: str, steps: int | None = None) -> dict[str, Any]:
    """Generate and train in one streaming run, then export; resumes from ROOT/train's latest checkpoint."""
    run = RunRoot(root)
    save_config(cfg, root)
    stream_uri = None
    if cfg.pipeline.write_through:
        stream_uri = run.stream
        rows.CommitLog(stream_uri).check_layout()
        save_config(cfg, stream_uri)
    control = StreamControl.remote(stream_uri, cfg.pipeline.caption_cycle, rows_in_flight(cfg))
    started = time.perf_counter()
    last = stop_step(cfg, steps)
    try:
        dataset = stream_dataset(cfg, root, control, last)
        result = fit(cfg, dataset, run.train, last, stream=control, data_label=cfg.ray.generation_label)
        progress = ray.get(control.report.remote())
    finally:
        ray.kill(control)
    if result.checkpoint is None:
        raise RuntimeError(f"the streaming run under {run.train} produced no checkpoint")
    state, export = export_checkpoint(cfg, result.checkpoint, run.export, storage.join(run.eval, PROBE_FILE))
    report = {
        "step": state.step,
        "seconds": time.perf_counter() - started,
        **progress,
        "trainer": {
            **_trainer_summary(run.train),
            "skipped_steps": state.skipped_steps,
            "bad_records": state.bad_records,
        },  # fmt: skip
        "train": run.train,
        "export": export,
        "stream": stream_uri,
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
