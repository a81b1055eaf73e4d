"""``embed-dataset`` on Ray Data: units of an image collection through a pool of embedding actors into shards.

Output folder (local or object store)::

    <unit>.parquet       id (string), path (string), embedding (fixed-size list of float32)
    _errors/<unit>.jsonl images that could not be decoded (id, path, reason), written before the shard
    _manifest.json       the commit log: settings, units done, rows; rewritten after every run
    _config.yaml         the resolved config

Every shard is written atomically and a unit is done once its shard exists, so a rerun embeds
only the missing units; the settings that decide the vectors (encoder weights, pooling,
normalisation, the input's plan) are pinned in the manifest, and a rerun with other ones is
refused rather than mixing vectors of two models. Metadata starts with ``_``, so pandas,
pyarrow, Polars and DuckDB open the folder as a dataset as it is.
"""

import io
import json
import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from synclr_ray import storage
from synclr_ray.cluster import run_data_in
from synclr_ray.config import Config
from synclr_ray.config.embed import EmbedConfig
from synclr_ray.embed.units import Unit, plan_digest, plan_units, read_unit
from synclr_ray.encoder import load_encoder
from synclr_ray.eval.features import ENCODER, FeatureExtractor

log = logging.getLogger(__name__)

MANIFEST_FILE = "_manifest.json"
CONFIG_FILE = "_config.yaml"
ERRORS_DIR = "_errors"
_SUMMARY_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("rows", pa.int64()),
        ("errors", pa.int64()),
        ("seconds", pa.float64()),
        ("failure", pa.string()),
    ]
)


def shard_schema(dim: int) -> pa.Schema:
    """The columns of an output shard."""
    return pa.schema([("id", pa.string()), ("path", pa.string()), ("embedding", pa.list_(pa.float32(), dim))])


class ShardEmbedder:
    """Ray Data callable: units in, one summary row per unit out; embeds a unit and writes its shard.

    The model and its batched forward are the probe's `FeatureExtractor` (CLS features, the
    encoder's own preprocessing). A unit that fails is reported in its summary, not raised, so
    the other units still land.
    """

    def __init__(self, encoder_uri: str, out: str, cfg: EmbedConfig) -> None:
        self.extractor = FeatureExtractor(encoder_uri, baseline_seed=None)
        self.dim = int(self.extractor.models[ENCODER].info["feature_dim"])
        self.out, self.cfg = out, cfg

    def __call__(self, units: pa.Table) -> pa.Table:
        summaries = []
        for unit in (Unit(**row) for row in units.to_pylist()):
            started = time.perf_counter()
            summary = {"name": unit.name, "rows": 0, "errors": 0, "failure": None}
            try:
                summary.update(self._embed_unit(unit))
            except Exception as exc:  # reported to the driver, which fails the run after the other units
                log.exception("shard %s failed", unit.name)
                summary["failure"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            summaries.append({**summary, "seconds": time.perf_counter() - started})
        return pa.Table.from_pylist(summaries, schema=_SUMMARY_SCHEMA)

    def _embed_unit(self, unit: Unit) -> dict[str, int]:
        images = read_unit(unit)
        ids, paths, rows, errors = [], [], [], []
        for start in range(0, len(images.ids), self.cfg.batch_size):
            batch = slice(start, start + self.cfg.batch_size)
            for index, feats, reason in self._embed_batch(images.ids[batch], images.data[batch]):
                row_id, path = images.ids[start + index], images.paths[start + index]
                if reason is None:
                    ids.append(row_id)
                    paths.append(path)
                    rows.append(feats)
                else:
                    errors.append({"id": row_id, "path": path, "reason": reason})
        if errors:
            lines = "".join(json.dumps(row) + "\n" for row in errors)
            storage.write_text(storage.join(self.out, ERRORS_DIR, f"{unit.name}.jsonl"), lines)
        feats = np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
        if self.cfg.normalize:
            feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        embedding = pa.FixedSizeListArray.from_arrays(pa.array(feats.reshape(-1)), self.dim)
        table = pa.Table.from_arrays(
            [pa.array(ids, pa.string()), pa.array(paths, pa.string()), embedding], schema=shard_schema(self.dim)
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        storage.write_bytes(storage.join(self.out, f"{unit.name}.parquet"), buffer.getvalue())
        return {"rows": len(ids), "errors": len(errors)}

    def _embed_batch(self, ids: list[str], data: list[bytes]) -> list[tuple[int, np.ndarray | None, str | None]]:
        """(index, features, None) per image, or (index, None, reason) for an image that does not decode."""
        try:
            feats = self.extractor({"id": np.array(ids), "image": np.array(data, dtype=object)})[ENCODER]
            return [(i, row, None) for i, row in enumerate(feats)]
        except ValueError:  # one bad image: find it (and any other) one by one, keep the rest
            out = []
            for i, (row_id, item) in enumerate(zip(ids, data, strict=True)):
                try:
                    feats = self.extractor({"id": np.array([row_id]), "image": np.array([item], dtype=object)})
                    out.append((i, feats[ENCODER][0], None))
                except ValueError as exc:
                    out.append((i, None, str(exc)))
            return out


def done_units(out: str) -> set[str]:
    """Names of the units whose shard exists."""
    base = storage.filesystem(out)[1] + "/"
    return {
        rel.removesuffix(".parquet")
        for rel in (storage.filesystem(uri)[1].removeprefix(base) for uri in storage.list_files(out, ".parquet"))
        if "/" not in rel
    }


def _check_settings(out: str, settings: dict[str, Any]) -> None:
    uri = storage.join(out, MANIFEST_FILE)
    if not storage.exists(uri):
        return
    before = storage.read_json(uri)["settings"]
    for key, value in settings.items():
        if before.get(key) != value:
            raise ValueError(
                f"{out} holds embeddings made with {key} {before.get(key)!r}, not {value!r}: "
                "use another --out, or delete that folder"
            )


def _write_manifest(out: str, settings: dict[str, Any], units: list[Unit], summaries: dict[str, dict]) -> dict:
    uri = storage.join(out, MANIFEST_FILE)
    known = {s["name"]: s for s in storage.read_json(uri).get("shards", [])} if storage.exists(uri) else {}
    known.update(summaries)
    done = done_units(out)
    entries = [known[u.name] for u in units if u.name in done and u.name in known]
    manifest = {
        "complete": len(entries) == len(units),
        "settings": settings,
        "units": len(units),
        "units_done": len(entries),
        "rows": sum(e["rows"] for e in entries),
        "errors": sum(e["errors"] for e in entries),
        "shards": [{**e, "path": f"{e['name']}.parquet"} for e in entries],
    }
    storage.write_json(uri, manifest)
    return manifest


def run_embed_dataset(cfg: Config, encoder: str, input_uri: str, out: str) -> dict[str, Any]:
    """Embed every image of ``input_uri`` with ``encoder`` into Parquet shards under ``out``; returns the manifest.

    Resumable and idempotent: only units without a shard are embedded.
    """
    run_data_in(cfg.ray.training_label)  # its datasets run on the training nodes (encoder inference)
    ecfg = cfg.embed
    info = load_encoder(encoder).info  # fails fast on a bad export; actors load this same version
    out = storage.join(out) if storage.is_remote(out) else storage.filesystem(out)[1]
    units = plan_units(input_uri, ecfg.shard_images)
    settings = {
        "encoder": info["id"],
        "digest": info["digest"],
        "architecture": info["architecture"],
        "pool": "cls",
        "normalize": ecfg.normalize,
        "input": input_uri,
        "plan": plan_digest(units),
    }
    _check_settings(out, settings)
    done = done_units(out)
    pending = [u for u in units if u.name not in done]
    _write_manifest(out, settings, units, {})
    storage.write_text(storage.join(out, CONFIG_FILE), cfg.to_yaml())
    log.info("embed-dataset: %d of %d shards to embed into %s", len(pending), len(units), out)
    summaries, failures = _embed_units(cfg, info["id"], pending, out) if pending else ({}, {})
    manifest = _write_manifest(out, settings, units, summaries)
    if failures:
        name, reason = next(iter(failures.items()))
        raise RuntimeError(
            f"{len(failures)} of {len(pending)} shards failed (rerun to retry them), e.g. {name}: {reason}"
        )
    return manifest


def _embed_units(cfg: Config, encoder_id: str, pending: list[Unit], out: str) -> tuple[dict[str, dict], dict[str, str]]:
    ecfg = cfg.embed
    results = ray.data.from_items([asdict(u) for u in pending]).map_batches(
        ShardEmbedder,
        fn_constructor_kwargs={"encoder_uri": encoder_id, "out": out, "cfg": ecfg},
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=ecfg.pool.min_size, max_size=ecfg.pool.max_size),
        num_cpus=ecfg.num_cpus,
        num_gpus=ecfg.num_gpus,
    )
    summaries: dict[str, dict] = {}
    failures: dict[str, str] = {}
    started, images = time.perf_counter(), 0
    for row in results.iter_rows():
        if row["failure"]:
            failures[row["name"]] = row["failure"]
            log.error("embed-dataset: shard %s failed: %s", row["name"], row["failure"])
            continue
        summaries[row["name"]] = {"name": row["name"], "rows": row["rows"], "errors": row["errors"]}
        images += row["rows"]
        log.info(
            "embed-dataset: shard %d/%d %s (%d images, %d undecodable, %.1f s) | %.1f images/s",
            len(summaries) + len(failures),
            len(pending),
            row["name"],
            row["rows"],
            row["errors"],
            row["seconds"],
            images / (time.perf_counter() - started),
        )
    return summaries, failures
