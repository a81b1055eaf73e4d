"""The caption stage: prompt rows -> caption rows as a lazy `Dataset -> Dataset` transform, and the
resumable staged runner that writes them under ``ROOT/captions/``.

Output (row format in synclr_ray/rows.py): ``round-NNNNN/*.parquet`` (caption rows), ``_commits/``
(the commit log: a round counts once its entry is written, after its files), ``_manifest.json``
(counts and stats), ``_config.yaml`` and ``_backgrounds.parquet`` (generated backgrounds). A round
is written to a hidden ``.round-NNNNN/`` and moved into place before it is committed; a rerun
deletes rounds the log does not name.
"""

import logging
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray
from ray.data import Dataset

from synclr_ray import rows, storage
from synclr_ray.captions import backgrounds as bg
from synclr_ray.captions import stats
from synclr_ray.captions.concepts import load_catalog
from synclr_ray.captions.engines import generate
from synclr_ray.captions.postprocess import STATUSES, dedup_key, mark_captions
from synclr_ray.captions.prompts import PromptPlanner
from synclr_ray.cluster import BOOKKEEPING, run_data_in
from synclr_ray.config import Config
from synclr_ray.leases import holds_lease
from synclr_ray.runroot import RunRoot, save_config

log = logging.getLogger(__name__)

MANIFEST_FILE = "_manifest.json"
BACKGROUNDS_FILE = "_backgrounds.parquet"
# A prompt block is one unit of engine work (its captions leave the engine together): a few engine
# batches, so every actor of a pool gets blocks and captions stream on without a task per batch.
ENGINE_BATCHES_PER_BLOCK = 8
ROWS_PER_DEDUP_PARTITION = 100_000  # few shuffle partitions: each one is an aggregator actor


class CaptionStage:
    """Prompt rows (`rows.PROMPT_SCHEMA`) -> caption rows (`rows.CAPTION_SCHEMA`): the LLM engine, then
    per-row post-processing; rows failing a rule are dropped, and counted by rule on ``drops`` when given
    (an actor with ``dropped(stage, reasons)``). Lazy: nothing runs until consumed.

    Exact dedup across a whole run is the staged runner's job (`run_captions`), not the stage's.
    """

    def __init__(self, cfg: Config, drops: Any = None) -> None:
        self.cfg = cfg
        self.drops = drops

    @property
    def block_rows(self) -> int:
        """Prompts per input block that keep the engine busy (a few engine batches): what sources should emit."""
        return self.cfg.captions.batch_size * ENGINE_BATCHES_PER_BLOCK

    def marked(self, prompts: Dataset) -> Dataset:
        """Engine output with the cleaned ``caption``, its post-processing ``status`` and dedup ``key``."""
        c = self.cfg.captions
        generated = generate(prompts, self.cfg, rows.PROMPT_SCHEMA.names)
        return generated.map_batches(
            mark_captions, fn_kwargs={"min_words": c.min_words, "max_words": c.max_words}, **BOOKKEEPING
        )

    def __call__(self, prompts: Dataset) -> Dataset:
        return self.marked(prompts).map_batches(_ok_rows, fn_kwargs={"schema": rows.CAPTION_SCHEMA, "drops": self.drops},
                                                batch_format="pyarrow", **BOOKKEEPING)  # fmt: skip


def _ok_rows(batch: pa.Table, schema: pa.Schema, drops: Any = None) -> pa.Table:
    """Ray Data UDF: the rows that passed every post-processing rule, with ``schema``'s columns; the others
    are counted by rule on ``drops``."""
    ok = pc.equal(batch["status"], "ok")
    if drops is not None and (reasons := Counter(batch.filter(pc.invert(ok))["status"].to_pylist())):
        drops.dropped.remote("captions", dict(reasons))
    return rows.conform(batch.filter(ok), schema, "caption rows")


def prompt_planner(cfg: Config, backgrounds: str | None) -> PromptPlanner:
    """The planner of prompt rows, with backgrounds from ``backgrounds`` (a table URI) or the config."""
    c = cfg.captions
    if backgrounds is None and c.backgrounds not in ("generate", "generic"):
        backgrounds = c.backgrounds
    table = bg.load_backgrounds(backgrounds) if backgrounds else {}
    return PromptPlanner(c, cfg.seed, load_catalog(c), table, bg.generic_backgrounds())


def prompt_dataset(cfg: Config, start: int, count: int, backgrounds: str | None = None) -> Dataset:
    """Lazy prompt rows for caption indices ``[start, start + count)``; bad concept sources fail here."""
    planner = prompt_planner(cfg, backgrounds)
    blocks = max(1, math.ceil(count / CaptionStage(cfg).block_rows))
    return ray.data.range(count, override_num_blocks=blocks).map_batches(planner, fn_kwargs={"offset": start})


def _old_keys(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Committed captions as dedup candidates: their key, and ``index`` -1 so they win every group."""
    n = len(batch["caption"])
    columns = {
        field.name: np.zeros(n, dtype=np.int64) if pa.types.is_integer(field.type) else np.array([""] * n, dtype=object)
        for field in rows.CAPTION_SCHEMA
    }
    columns["index"] = np.full(n, -1, dtype=np.int64)
    return {"key": np.array([dedup_key(str(c)) for c in batch["caption"]], dtype=np.int64), **columns}


def _first_new(group: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One dedup group (same key): nothing if an earlier round has it, else its lowest index."""
    indices = group["index"]
    if indices.min() < 0:
        return {c: v[:0] for c, v in group.items()}
    first = int(np.argmin(indices))
    return {c: v[first : first + 1] for c, v in group.items()}


def _dedup(new: Dataset, committed: list[str], rows_hint: int) -> Dataset:
    """New rows whose normalised caption is unique within them and absent from ``committed`` files."""
    schema = pa.schema([pa.field("key", pa.int64()), *rows.CAPTION_SCHEMA])
    candidates = new.map_batches(_ok_rows, fn_kwargs={"schema": schema}, batch_format="pyarrow")
    if committed:
        paths, fs = storage.ray_paths(committed)
        old = ray.data.read_parquet(paths, filesystem=fs).select_columns(["caption"]).map_batches(_old_keys)
        candidates = candidates.union(old)
    partitions = max(1, math.ceil(rows_hint / ROWS_PER_DEDUP_PARTITION))
    return candidates.groupby("key", num_partitions=partitions).map_groups(_first_new)


def _committed_rounds(out: str, cfg: Config) -> list[dict[str, Any]]:
    """The rounds of the caption commit log (entry ``round-NNNNN``: its files and stats); refuses another seed or model."""
    rounds = rows.CommitLog(out).entries()
    identity = {"seed": cfg.seed, "model": cfg.captions.model}
    for key, value in identity.items():
        made = rounds[0]["identity"].get(key) if rounds else value
        if made != value:
            raise ValueError(f"{out} was made with captions {key}={made!r}, not {value!r}: use a new --root")
    return rounds


def _commit_round(out: str, info: dict[str, Any]) -> dict[str, Any]:
    """Commit a published round: from now on its files count."""
    name = info.pop("name")
    prefix = storage.filesystem(out)[1] + "/"
    files = [
        {"path": storage.filesystem(f)[1].removeprefix(prefix)}
        for f in storage.list_files(storage.join(out, name), ".parquet")
    ]
    return rows.CommitLog(out).commit(name, files, **info)


def prepare_backgrounds(cfg: Config, root: str) -> str | None:
    """The background table to use: generated once into ROOT/captions/_backgrounds.parquet, a user table, or None (generic)."""
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
        table = pa.Table.from_pylist(
            bg.background_dataset(cfg, load_catalog(cfg.captions)).take_all(), schema=bg.SCHEMA
        )
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
            storage.move_file(fs, info.path, f"{final}/{info.base_name}")
    fs.delete_dir(staged)


def _remove_uncommitted(out: str, rounds: list[dict[str, Any]]) -> None:
    """Delete staged or published rounds that the commit log does not name (an interrupted run)."""
    committed = {r["name"] for r in rounds}
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
    marked = CaptionStage(cfg).marked(prompt_dataset(cfg, start, count, backgrounds)).materialize()
    statuses = dict.fromkeys(STATUSES, 0) | stats.count_by(marked, "status")
    unique = _dedup(marked, committed, rows_hint=count + have).materialize()
    kept = unique.sort("index").limit(need).materialize() if unique.count() > need else unique
    caption_rows = kept.map_batches(rows.conform, fn_args=(rows.CAPTION_SCHEMA,), batch_format="pyarrow")
    fs, staging = storage.filesystem(_round_uri(out, number, staging=True))
    caption_rows.write_parquet(staging, filesystem=fs)
    _publish(out, number)
    storage.sync_tree(_round_uri(out, number))  # Ray Data does not fsync: make the round durable before its commit
    return {
        "name": _round_uri(out, number).rsplit("/", 1)[1],
        "identity": {"seed": cfg.seed, "model": cfg.captions.model},
        "start": start,
        "prompts": count,
        "kept": kept.count(),
        "filtered": {s: n for s, n in statuses.items() if s != "ok"},
        "duplicates": statuses["ok"] - unique.count(),
        "surplus": unique.count() - kept.count(),
        "by_source_template": stats.count_by(kept, "concept_source", "template"),
        "length_words": stats.length_stats(kept),
    }


def _manifest(cfg: Config, rounds: list[dict[str, Any]], target: int, backgrounds: str | None) -> dict[str, Any]:
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

    Resumable and idempotent: work is done in rounds, each committed to the folder's commit log
    after its files are written; a rerun deletes uncommitted files and plans the next rounds from
    where the last commit stopped, so no caption is lost or written twice.
    """
    run_data_in(cfg.ray.generation_label)
    target = num_captions or cfg.captions.num_captions
    out = RunRoot(root).captions
    rounds = _committed_rounds(out, cfg)  # refuses an old layout, or an output made with another seed or model
    _remove_uncommitted(out, rounds)
    save_config(cfg, out)
    backgrounds = prepare_backgrounds(cfg, root)
    have = sum(r["kept"] for r in rounds)
    if have > target:
        raise ValueError(f"{out} already holds {have} captions, more than the {target} requested: use a new --root")
    while have < target:
        if len(rounds) >= cfg.captions.max_rounds:
            raise RuntimeError(
                f"only {have}/{target} unique captions after {len(rounds)} rounds (captions.max_rounds): "
                "the model's completions are mostly filtered or duplicated; check captions.min_words/max_words"
            )
        prompts = sum(r["prompts"] for r in rounds)
        kept_rate = max(have / prompts, 0.05) if prompts else 1.0
        need = min(target - have, cfg.captions.round_size)
        count = math.ceil(need * cfg.captions.oversample / kept_rate)
        start = rounds[-1]["start"] + rounds[-1]["prompts"] if rounds else 0
        number = len(rounds)
        log.info("captions round %d: %d prompts for %d captions (%d/%d done)", number, count, need, have, target)
        committed = [storage.join(out, f["path"]) for r in rounds for f in r["files"]]
        info = _run_round(cfg, out, number, start, count, need, backgrounds, committed, have)
        rounds.append(_commit_round(out, info))
        have += info["kept"]
    manifest = _manifest(cfg, rounds, target, backgrounds)
    storage.write_json(storage.join(out, MANIFEST_FILE), manifest)
    return manifest
