"""The caption stage: a lazy building block for streaming, and a resumable staged runner.

Output under ``ROOT/captions/`` (the caption row contract, see README "Stage 1: captions"):
``round-NNNNN/*.parquet`` with columns caption_id, caption, concept, concept_source, template,
seed; ``progress.json`` (the commit log: a round counts only once listed there);
``manifest.json`` (counts and stats); ``config.yaml``; ``backgrounds.pq`` (generated backgrounds).
A round is written to a hidden ``.round-NNNNN/`` and moved into place when complete, so a plain
listing of ``*.parquet`` files sees finished rounds only; `read_captions` reads committed ones.
"""

import logging
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray
from ray.data import Dataset

from synclr_ray import storage
from synclr_ray.captions import backgrounds as bg
from synclr_ray.captions import stats
from synclr_ray.captions.concepts import load_catalog
from synclr_ray.captions.engines import generate
from synclr_ray.captions.postprocess import STATUSES, dedup_key, mark_captions
from synclr_ray.captions.prompts import PromptPlanner
from synclr_ray.config import Config
from synclr_ray.leases import holds_lease
from synclr_ray.runroot import RunRoot, save_config

log = logging.getLogger(__name__)

CAPTION_COLUMNS = ["caption_id", "caption", "concept", "concept_source", "template", "seed"]
PROMPT_COLUMNS = ["index", "caption_id", "concept", "concept_source", "template", "seed", "prompt"]
PROGRESS_FILE = "progress.json"
MANIFEST_FILE = "manifest.json"
BACKGROUNDS_FILE = "backgrounds.pq"  # not *.parquet: readers of caption files skip it
# A prompt block is one unit of engine work (its captions leave the engine together): a few engine
# batches, so every actor of a pool gets blocks and captions stream on without a task per batch.
ENGINE_BATCHES_PER_BLOCK = 8
ROWS_PER_DEDUP_PARTITION = 100_000  # few shuffle partitions: each one is an aggregator actor


def prompt_planner(cfg: Config, backgrounds: str | None) -> PromptPlanner:
    """The planner of prompt rows, with backgrounds from ``backgrounds`` (a table URI) or the config."""
    c = cfg.captions
    if backgrounds is None and c.backgrounds not in ("generate", "generic"):
        backgrounds = c.backgrounds
    table = bg.load_backgrounds(backgrounds) if backgrounds else {}
    return PromptPlanner(c, cfg.seed, load_catalog(c), table, bg.generic_backgrounds())


def prompt_blocks(cfg: Config, count: int) -> int:
    """How many blocks ``count`` prompts go to the caption engine in."""
    return max(1, math.ceil(count / (cfg.captions.batch_size * ENGINE_BATCHES_PER_BLOCK)))


def prompt_dataset(cfg: Config, start: int, count: int, backgrounds: str | None = None) -> Dataset:
    """Lazy prompt rows for caption indices ``[start, start + count)``; bad concept sources fail here."""
    planner = prompt_planner(cfg, backgrounds)
    positions = ray.data.range(count, override_num_blocks=prompt_blocks(cfg, count))
    return positions.map_batches(planner, fn_kwargs={"offset": start})


def marked_dataset(cfg: Config, start: int, count: int, backgrounds: str | None = None) -> Dataset:
    """Lazy: prompts -> engine -> cleaned ``caption`` with its ``status`` and dedup ``key``."""
    generated = generate(prompt_dataset(cfg, start, count, backgrounds), cfg, PROMPT_COLUMNS)
    return generated.map_batches(
        mark_captions, fn_kwargs={"min_words": cfg.captions.min_words, "max_words": cfg.captions.max_words}
    )


def keep_ok_rows(batch: dict[str, np.ndarray], columns: list[str]) -> dict[str, np.ndarray]:
    """Ray Data UDF: the ``columns`` of rows that passed every post-processing rule."""
    keep = batch["status"] == "ok"
    return {c: batch[c][keep] for c in columns}


def caption_dataset(cfg: Config, start: int, count: int, backgrounds: str | None = None) -> Dataset:
    """Lazy caption rows (the contract's columns) for planned indices ``[start, start + count)``.

    Rows failing a post-processing rule are dropped, so fewer than ``count`` come out;
    exact dedup across a whole run is `run_captions`' job.
    """
    return marked_dataset(cfg, start, count, backgrounds).map_batches(
        keep_ok_rows, fn_kwargs={"columns": CAPTION_COLUMNS}
    )


def _old_keys(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(batch["caption"])
    empty = np.array([""] * n, dtype=object)
    return {
        "key": np.array([dedup_key(str(c)) for c in batch["caption"]], dtype=np.int64),
        "index": np.full(n, -1, dtype=np.int64),
        **{c: empty for c in CAPTION_COLUMNS if c != "seed"},
        "seed": np.zeros(n, dtype=np.int64),
    }


def _first_new(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One dedup group (same key): nothing if an earlier round has it, else its lowest index."""
    indices = group["index"]
    if indices.min() < 0:
        return {c: v[:0] for c, v in group.items()}
    first = int(np.argmin(indices))
    return {c: v[first : first + 1] for c, v in group.items()}


def _dedup(new: Dataset, committed: list[str], rows_hint: int) -> Dataset:
    """New rows whose normalised caption is unique within them and absent from ``committed`` files."""
    columns = ["key", "index", *CAPTION_COLUMNS]
    rows = new.map_batches(keep_ok_rows, fn_kwargs={"columns": columns})
    if committed:
        rows = rows.union(ray.data.read_parquet(committed).select_columns(["caption"]).map_batches(_old_keys))
    partitions = max(1, math.ceil(rows_hint / ROWS_PER_DEDUP_PARTITION))
    return rows.groupby("key", num_partitions=partitions).map_groups(_first_new)


class _Progress:
    """The commit log of one caption output: which rounds are complete, what each one held."""

    def __init__(self, out: str, cfg: Config):
        self.uri = storage.join(out, PROGRESS_FILE)
        identity = {"seed": cfg.seed, "model": cfg.captions.model}
        self.data: dict[str, Any] = (
            storage.read_json(self.uri) if storage.exists(self.uri) else {**identity, "rounds": []}
        )
        for key, value in identity.items():
            if self.data.get(key) != value:
                raise ValueError(
                    f"{out} was made with captions {key}={self.data.get(key)!r}, not {value!r}: use a new --root"
                )

    @property
    def rounds(self) -> list[dict[str, Any]]:
        return self.data["rounds"]

    def save(self) -> None:
        storage.write_json(self.uri, self.data)


def _commit_round(progress: _Progress, info: dict[str, Any]) -> None:
    progress.rounds.append(info)
    progress.save()


def prepare_backgrounds(cfg: Config, root: str) -> str | None:
    """The background table to use: generated once into ROOT/captions/backgrounds.pq, a user table, or None (generic)."""
    choice = cfg.captions.backgrounds
    if choice == "generic":
        return None
    if choice != "generate":
        if not storage.exists(choice):
            raise ValueError(f"captions.backgrounds: no file or directory at {choice}")
        return choice
    uri = storage.join(RunRoot(root).captions, BACKGROUNDS_FILE)
    if not storage.exists(uri):  # written atomically: present means complete
        log.info("generating backgrounds for the object concepts")
        # One short row per concept (~11k for the paper's sources), small enough to gather.
        rows = bg.background_dataset(cfg, load_catalog(cfg.captions)).take_all()
        table = pa.Table.from_pylist(rows, schema=bg.SCHEMA)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        storage.write_bytes(uri, sink.getvalue().to_pybytes())
    return uri


def _round_uri(out: str, number: int, staging: bool = False) -> str:
    """A round's directory; while it is being written it is hidden (``.``-prefixed) from file listings."""
    return storage.join(out, f"{'.' if staging else ''}round-{number:05d}")


def _publish(out: str, number: int) -> None:
    """Move a fully written round from its hidden staging directory to its visible one."""
    fs, staged = storage.filesystem(_round_uri(out, number, staging=True))
    final = storage.filesystem(_round_uri(out, number))[1]
    fs.create_dir(final, recursive=True)
    for info in fs.get_file_info(pafs.FileSelector(staged, recursive=True)):
        if info.type == pafs.FileType.File:
            fs.move(info.path, f"{final}/{info.base_name}")
    fs.delete_dir(staged)


def _remove_uncommitted(out: str, progress: _Progress) -> None:
    """Delete staged or published rounds that ``progress.json`` does not list (an interrupted run)."""
    committed = {r["dir"] for r in progress.rounds}
    fs, path = storage.filesystem(out)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return
    for info in fs.get_file_info(pafs.FileSelector(path)):
        if info.base_name.lstrip(".").startswith("round-") and info.base_name not in committed:
            storage.delete(storage.join(out, info.base_name))


def _run_round(
    cfg: Config,
    out: str,
    number: int,
    start: int,
    count: int,
    need: int,
    backgrounds: str | None,
    committed: list[str],
    have: int,
) -> dict[str, Any]:
    marked = marked_dataset(cfg, start, count, backgrounds).materialize()
    statuses = dict.fromkeys(STATUSES, 0) | stats.count_by(marked, "status")
    unique = _dedup(marked, committed, rows_hint=count + have).materialize()
    kept = unique.sort("index").limit(need).materialize() if unique.count() > need else unique
    name = _round_uri(out, number).rsplit("/", 1)[1]
    kept.select_columns(CAPTION_COLUMNS).write_parquet(_round_uri(out, number, staging=True))
    _publish(out, number)
    storage.sync_tree(_round_uri(out, number))  # Ray Data does not fsync: make the round durable before its commit
    return {
        "dir": name,
        "start": start,
        "prompts": count,
        "kept": kept.count(),
        "filtered": {s: n for s, n in statuses.items() if s != "ok"},
        "duplicates": statuses["ok"] - unique.count(),
        "surplus": unique.count() - kept.count(),
        "by_source_template": stats.count_by(kept, "concept_source", "template"),
        "length_words": stats.length_stats(kept),
    }


def committed_files(root: str) -> list[str]:
    """Parquet files of the committed caption rounds under a run root."""
    out = RunRoot(root).captions
    uri = storage.join(out, PROGRESS_FILE)
    if not storage.exists(uri):
        return []
    return [
        f for r in storage.read_json(uri)["rounds"] for f in storage.list_files(storage.join(out, r["dir"]), ".parquet")
    ]


def read_captions(root: str) -> Dataset:
    """The committed captions of a run root as a Ray dataset (the caption row contract)."""
    files = committed_files(root)
    if not files:
        raise FileNotFoundError(f"no captions under {RunRoot(root).captions}: run `synclr captions` first")
    return ray.data.read_parquet(files)


def _manifest(cfg: Config, progress: _Progress, target: int, backgrounds: str | None) -> dict[str, Any]:
    rounds = progress.rounds
    by_pair: dict[str, int] = {}
    lengths = {"n": 0, "sum": 0, "min": None, "max": None}
    for r in rounds:
        for key, n in r["by_source_template"].items():
            by_pair[key] = by_pair.get(key, 0) + n
        lengths = stats.merge_lengths(lengths, r["length_words"])
    by_source: dict[str, int] = {}
    by_template: dict[str, int] = {}
    for key, n in by_pair.items():
        source, template = key.split("/")
        by_source[source] = by_source.get(source, 0) + n
        by_template[template] = by_template.get(template, 0) + n
    return {
        "num_captions": sum(r["kept"] for r in rounds),
        "requested": target,
        "model": cfg.captions.model,
        "engine": cfg.captions.engine,
        "seed": cfg.seed,
        "prompts": sum(r["prompts"] for r in rounds),
        "rounds": len(rounds),
        "by_source": by_source,
        "by_template": by_template,
        "by_source_template": dict(sorted(by_pair.items())),
        "filtered": {s: sum(r["filtered"][s] for r in rounds) for s in STATUSES if s != "ok"},
        "duplicates": sum(r["duplicates"] for r in rounds),
        "surplus": sum(r["surplus"] for r in rounds),
        "length_words": {
            "min": lengths["min"],
            "max": lengths["max"],
            "mean": round(lengths["sum"] / lengths["n"], 2) if lengths["n"] else None,
        },
        "backgrounds": backgrounds or "generic",
        "config": cfg.model_dump(mode="json"),
    }


@holds_lease("captions")
def run_captions(cfg: Config, root: str, num_captions: int | None = None) -> dict[str, Any]:
    """Generate captions under ROOT/captions until exactly ``num_captions`` unique ones exist; returns the manifest.

    Resumable and idempotent: work is done in rounds, each committed to ``progress.json`` after
    its files are written; a rerun deletes uncommitted files and plans the next rounds from where
    the last commit stopped, so no caption is lost or written twice.
    """
    target = num_captions or cfg.captions.num_captions
    out = RunRoot(root).captions
    progress = _Progress(out, cfg)  # refuses an output made with another seed or model
    _remove_uncommitted(out, progress)
    save_config(cfg, out)
    backgrounds = prepare_backgrounds(cfg, root)
    have = sum(r["kept"] for r in progress.rounds)
    if have > target:
        raise ValueError(f"{out} already holds {have} captions, more than the {target} requested: use a new --root")
    while have < target:
        if len(progress.rounds) >= cfg.captions.max_rounds:
            raise RuntimeError(
                f"only {have}/{target} unique captions after {len(progress.rounds)} rounds (captions.max_rounds): "
                "the model's completions are mostly filtered or duplicated; check captions.min_words/max_words"
            )
        prompts = sum(r["prompts"] for r in progress.rounds)
        kept_rate = max(have / prompts, 0.05) if prompts else 1.0
        need = min(target - have, cfg.captions.round_size)
        count = math.ceil(need * cfg.captions.oversample / kept_rate)
        start = progress.rounds[-1]["start"] + progress.rounds[-1]["prompts"] if progress.rounds else 0
        number = len(progress.rounds)
        log.info("captions round %d: %d prompts for %d captions (%d/%d done)", number, count, need, have, target)
        committed = [f for r in progress.rounds for f in storage.list_files(storage.join(out, r["dir"]), ".parquet")]
        info = _run_round(cfg, out, number, start, count, need, backgrounds, committed, have)
        _commit_round(progress, info)
        have += info["kept"]
    manifest = _manifest(cfg, progress, target, backgrounds)
    storage.write_json(storage.join(out, MANIFEST_FILE), manifest)
    return manifest
