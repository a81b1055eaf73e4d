"""Stage 2 on Ray Data: caption rows -> image rows as a lazy `Dataset -> Dataset` transform, and the
resumable staged runner that draws ROOT/captions' committed files into ROOT/images.

Output (row format in synclr_ray/rows.py): ``<unit>.parquet`` image shards, ``_commits/`` (the
commit log: a shard counts once an entry names it), ``_errors/<unit>.jsonl``, ``_manifest.json``
and ``_config.yaml``.
"""

import logging
import time
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import ray
import yaml

from synclr_ray import rows, storage
from synclr_ray.cluster import label_selector, run_data_in
from synclr_ray.config import Config
from synclr_ray.images import shards
from synclr_ray.images.engine import ImageGenerator
from synclr_ray.leases import holds_lease
from synclr_ray.runroot import CONFIG_FILE, RunRoot, save_config

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 30.0  # drawn shards are committed in one entry at most this often (and at the end)

# Settings that decide which pixels (or which units) a run produces: a rerun into the same
# folder must agree on them, or old and new shards would silently mix.
_PINNED_FIELDS = (
    "model",
    "images_per_caption",
    "guidance_scale",
    "scheduler",
    "num_inference_steps",
    "resolution",
    "store_size",
    "image_format",
    "quality",
    "safety_checker",
    "shard_captions",
)


def _map_options(cfg: Config) -> dict[str, Any]:
    images = cfg.images
    return {
        "compute": ray.data.ActorPoolStrategy(min_size=images.pool.min_size, max_size=images.pool.max_size),
        "num_cpus": images.num_cpus,
        "num_gpus": images.num_gpus,
        "label_selector": label_selector(cfg.ray.generation_label),
        "batch_format": "pyarrow",
    }


class ImageStage:
    """Caption rows (`rows.CAPTION_SCHEMA`) -> image rows (`rows.IMAGE_SCHEMA`), drawn lazily by a pool of
    generator actors. A row's ``epoch`` enters its seeds, so a later epoch draws fresh images of the
    same caption. Captions that cannot be drawn are logged with their reason and left out, and counted
    by reason on ``drops`` when given (an actor with ``dropped(stage, reasons)``).
    """

    def __init__(self, cfg: Config, drops: Any = None) -> None:
        self.cfg = cfg
        self.drops = drops

    def __call__(self, captions: ray.data.Dataset) -> ray.data.Dataset:
        return captions.map_batches(
            ImageGenerator, fn_constructor_kwargs={"cfg": self.cfg, "drops": self.drops},
            batch_size=self.cfg.images.batch_size,
            **_map_options(self.cfg),
        )  # fmt: skip


_SUMMARY_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("rows", pa.int64()),
        ("errors", pa.int64()),
        ("seconds", pa.float64()),
        ("failure", pa.string()),
    ]
)


class ShardWriter:
    """Ray Data callable: units in, one summary row per unit out; draws a unit and writes its shard.

    A unit that fails is reported in its summary (``failure``) rather than raised, so the
    other units still land and the driver can name the cause in one line.
    """

    def __init__(self, cfg: Config, images_uri: str) -> None:
        self.generator = ImageGenerator(cfg)
        self.images_uri = images_uri

    def __call__(self, units: pa.Table) -> pa.Table:
        summaries = []
        for unit in (shards.Unit(**row) for row in units.to_pylist()):
            started = time.perf_counter()
            summary = {"name": unit.name, "rows": 0, "errors": 0, "failure": None}
            try:
                images, errors = self.generator.generate(shards.read_captions(unit))
                shards.write_shard(self.images_uri, unit.name, images, errors)
                summary.update(rows=images.num_rows, errors=errors.num_rows)
            except Exception as exc:  # reported to the driver, which fails the run after the other units
                log.exception("shard %s failed", unit.name)
                summary["failure"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            summaries.append({**summary, "seconds": time.perf_counter() - started})
        return pa.Table.from_pylist(summaries, schema=_SUMMARY_SCHEMA)


@holds_lease("images")
def run_images(cfg: Config, root: str, captions_uri: str | None = None) -> dict[str, Any]:
    """Draw images for every committed caption under ``captions_uri`` (default ROOT/captions) into ROOT/images.

    Resumable and idempotent: only units without a committed shard are drawn; the manifest is
    rewritten from the commit log. Returns the manifest.
    """
    run_data_in(cfg.ray.generation_label)
    # Actors run in other working directories: hand them absolute paths.
    run = RunRoot(root)
    captions_uri = captions_uri or run.captions
    images_uri = run.images
    units = shards.plan_units(captions_uri, cfg.images.shard_captions)
    rows.CommitLog(images_uri).check_layout()
    _check_same_settings(cfg, images_uri)
    done = shards.done_units(images_uri)
    pending = [unit for unit in units if unit.name not in done]
    save_config(cfg, images_uri)
    log.info(
        "images: %d of %d shards to draw (%d captions) into %s",
        len(pending),
        len(units),
        sum(u.stop - u.start for u in pending),
        images_uri,
    )
    failures = _draw_units(cfg, pending, images_uri) if pending else {}
    manifest = _write_manifest(cfg, units, images_uri, captions_uri)
    if failures:
        name, reason = next(iter(failures.items()))
        raise RuntimeError(
            f"{len(failures)} of {len(pending)} shards failed (rerun to retry them), e.g. {name}: {reason}"
        )
    return manifest


def _draw_units(cfg: Config, pending: list[shards.Unit], images_uri: str) -> dict[str, str]:
    """Draw and commit the pending units; returns the reason of each unit that failed."""
    summaries = ray.data.from_items([asdict(unit) for unit in pending]).map_batches(
        ShardWriter, fn_constructor_kwargs={"cfg": cfg, "images_uri": images_uri}, batch_size=1, **_map_options(cfg)
    )
    drawn = 0
    uncommitted: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    started, images, committed_at = time.perf_counter(), 0, time.perf_counter()
    for row in summaries.iter_rows():
        if row["failure"]:
            failures[row["name"]] = row["failure"]
            log.error("images: shard %s failed: %s", row["name"], row["failure"])
            continue
        drawn += 1
        uncommitted.append({"name": row["name"], "rows": row["rows"], "errors": row["errors"]})
        if time.perf_counter() - committed_at >= COMMIT_EVERY_S:
            shards.commit_shards(images_uri, uncommitted)
            uncommitted, committed_at = [], time.perf_counter()
        images += row["rows"] * cfg.images.images_per_caption
        log.info(
            "images: shard %d/%d %s (%d captions, %d errors, %.1f s) | %.2f images/s",
            drawn + len(failures),
            len(pending),
            row["name"],
            row["rows"],
            row["errors"],
            row["seconds"],
            images / (time.perf_counter() - started),
        )
    shards.commit_shards(images_uri, uncommitted)
    return failures


def _check_same_settings(cfg: Config, images_uri: str) -> None:
    saved_uri = storage.join(images_uri, CONFIG_FILE)
    if not storage.exists(saved_uri):
        return
    saved = yaml.safe_load(storage.read_text(saved_uri)) or {}
    current = cfg.model_dump(mode="json")
    pairs = [("seed", saved.get("seed"), current["seed"])]
    pairs += [(f"images.{f}", saved.get("images", {}).get(f), current["images"][f]) for f in _PINNED_FIELDS]
    for field, before, now in pairs:
        if before != now:
            raise ValueError(
                f"config field '{field}' is {now!r} but {images_uri} was drawn with {before!r}: use another --root or delete that folder"
            )


def _write_manifest(cfg: Config, units: list[shards.Unit], images_uri: str, captions_uri: str) -> dict[str, Any]:
    done = shards.done_units(images_uri)
    entries = [done[u.name] for u in units if u.name in done]
    drawn_rows = sum(e["rows"] for e in entries)
    manifest = {
        "complete": len(entries) == len(units),
        "captions": captions_uri,
        "units": len(units),
        "units_done": len(entries),
        "rows": drawn_rows,
        "images": drawn_rows * cfg.images.images_per_caption,
        "errors": sum(e["errors"] for e in entries),
        "images_per_caption": cfg.images.images_per_caption,
        "width": cfg.images.store_size,
        "height": cfg.images.store_size,
        "image_format": cfg.images.image_format,
        "shards": entries,
    }
    storage.write_json(storage.join(images_uri, shards.MANIFEST_FILE), manifest)
    return manifest
