"""Stage 2 on Ray Data: the lazy building block for streaming, and the resumable staged runner."""

import logging
import time
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import ray
import yaml

from synclr_ray import storage
from synclr_ray.cluster import init_ray, label_selector
from synclr_ray.config import Config
from synclr_ray.images import shards
from synclr_ray.images.engine import ImageGenerator
from synclr_ray.leases import holds_lease
from synclr_ray.runroot import CONFIG_FILE, RunRoot, save_config

log = logging.getLogger(__name__)

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


def image_dataset(cfg: Config, captions: ray.data.Dataset, epoch: int = 0) -> ray.data.Dataset:
    """Image rows drawn lazily from caption rows by a pool of generator actors (nothing runs until consumed).

    ``epoch`` enters the seeds: every epoch draws fresh images of the same captions. Captions
    that cannot be drawn are logged with their reason and left out.
    """
    return captions.map_batches(
        ImageGenerator,
        fn_constructor_kwargs={"cfg": cfg, "epoch": epoch},
        batch_size=cfg.images.batch_size,
        **_map_options(cfg),
    )


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
    """Draw images for every caption under ``captions_uri`` (default ROOT/captions) into ROOT/images.

    Resumable and idempotent: only units without a shard are drawn; the manifest is rewritten
    from what is on storage. Returns the manifest.
    """
    # Actors run in other working directories: hand them absolute paths.
    run = RunRoot(root)
    captions_uri = captions_uri or run.captions
    images_uri = run.images
    units = shards.plan_units(captions_uri, cfg.images.shard_captions)
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
    drawn, failures = _draw_units(cfg, pending, images_uri) if pending else ({}, {})
    manifest = _write_manifest(cfg, units, images_uri, captions_uri, drawn)
    if failures:
        name, reason = next(iter(failures.items()))
        raise RuntimeError(
            f"{len(failures)} of {len(pending)} shards failed (rerun to retry them), e.g. {name}: {reason}"
        )
    return manifest


def _draw_units(
    cfg: Config, pending: list[shards.Unit], images_uri: str
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Summaries of the units drawn, and the reason of each unit that failed."""
    init_ray(cfg.ray)
    summaries = ray.data.from_items([asdict(unit) for unit in pending]).map_batches(
        ShardWriter, fn_constructor_kwargs={"cfg": cfg, "images_uri": images_uri}, batch_size=1, **_map_options(cfg)
    )
    drawn: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    started, images = time.perf_counter(), 0
    for row in summaries.iter_rows():
        if row["failure"]:
            failures[row["name"]] = row["failure"]
            log.error("images: shard %s failed: %s", row["name"], row["failure"])
            continue
        drawn[row["name"]] = {"name": row["name"], "rows": row["rows"], "errors": row["errors"]}
        images += row["rows"] * cfg.images.images_per_caption
        log.info(
            "images: shard %d/%d %s (%d captions, %d errors, %.1f s) | %.2f images/s",
            len(drawn) + len(failures),
            len(pending),
            row["name"],
            row["rows"],
            row["errors"],
            row["seconds"],
            images / (time.perf_counter() - started),
        )
    return drawn, failures


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


def _write_manifest(
    cfg: Config, units: list[shards.Unit], images_uri: str, captions_uri: str, drawn: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    manifest_uri = storage.join(images_uri, shards.MANIFEST_FILE)
    known = {s["name"]: s for s in storage.read_json(manifest_uri)["shards"]} if storage.exists(manifest_uri) else {}
    known.update(drawn)
    done = shards.done_units(images_uri)
    entries = [known.get(u.name) or shards.shard_counts(images_uri, u.name) for u in units if u.name in done]
    rows = sum(e["rows"] for e in entries)
    manifest = {
        "complete": len(entries) == len(units),
        "captions": captions_uri,
        "units": len(units),
        "units_done": len(entries),
        "rows": rows,
        "images": rows * cfg.images.images_per_caption,
        "errors": sum(e["errors"] for e in entries),
        "images_per_caption": cfg.images.images_per_caption,
        "width": cfg.images.store_size,
        "height": cfg.images.store_size,
        "image_format": cfg.images.image_format,
        "shards": [{**e, "path": f"{e['name']}.parquet"} for e in entries],
    }
    storage.write_json(manifest_uri, manifest)
    return manifest
