"""The image stage's files: committed caption files cut into units, image shards, error tables.

A unit is a slice of ``images.shard_captions`` rows of one committed caption file; it becomes
exactly one image shard ``ROOT/images/<unit>.parquet``, written atomically. A unit is done once
the images commit log names its shard, so a rerun draws only the missing units (a shard written
but not yet committed when a run died is drawn again) and no caption counts twice. Captions that
could not be drawn go to ``ROOT/images/_errors/<unit>.jsonl`` (written before the shard).
"""

import io
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synclr_ray import rows, storage

MANIFEST_FILE = "_manifest.json"
ERRORS_DIR = "_errors"


class CaptionInputError(ValueError):
    """A caption file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Unit:
    """Rows ``[start, stop)`` of caption file ``source``, drawn into shard ``name``."""

    name: str
    source: str
    start: int
    stop: int


def plan_units(captions_uri: str, shard_captions: int) -> list[Unit]:
    """Cut every committed caption file under ``captions_uri`` into units, checking each file's footer and columns."""
    files = rows.CommitLog(captions_uri).files()
    if not files:
        raise CaptionInputError(
            f"no committed caption files under {captions_uri} (its {rows.COMMITS_DIR}/ names none): "
            "run `synclr captions` or pass --captions"
        )
    base = storage.filesystem(captions_uri)[1]
    units = []
    for uri in files:
        num_rows = _caption_file_rows(uri)
        stem = storage.filesystem(uri)[1][len(base) + 1 :].removesuffix(".parquet").replace("/", "__")
        units += [
            Unit(f"{stem}-{index:05d}", uri, start, min(start + shard_captions, num_rows))
            for index, start in enumerate(range(0, num_rows, shard_captions))
        ]
    return units


def _caption_file_rows(uri: str) -> int:
    fs, path = storage.filesystem(uri)
    try:
        metadata = pq.read_metadata(path, filesystem=fs)
    except (OSError, pa.ArrowException) as exc:
        raise CaptionInputError(f"caption file {uri} is not readable Parquet: {exc}") from None
    names = metadata.schema.to_arrow_schema().names
    missing = [name for name in rows.CAPTION_SCHEMA.names if name not in names]
    if missing:
        raise CaptionInputError(f"caption file {uri} lacks column(s) {', '.join(missing)} (has {', '.join(names)})")
    return metadata.num_rows


def read_captions(unit: Unit) -> pa.Table:
    """The caption rows of one unit (`rows.CAPTION_SCHEMA`)."""
    fs, path = storage.filesystem(unit.source)
    try:
        table = pq.read_table(path, filesystem=fs, columns=rows.CAPTION_SCHEMA.names)
    except (OSError, pa.ArrowException) as exc:
        raise CaptionInputError(f"caption file {unit.source} is not readable Parquet: {exc}") from None
    return rows.conform(table, rows.CAPTION_SCHEMA, unit.source).slice(unit.start, unit.stop - unit.start)


def shard_uri(images_uri: str, name: str) -> str:
    """Where unit ``name``'s image rows live."""
    return storage.join(images_uri, f"{name}.parquet")


def errors_uri(images_uri: str, name: str) -> str:
    """Where unit ``name``'s failed captions are recorded (JSON lines, one per caption)."""
    return storage.join(images_uri, ERRORS_DIR, f"{name}.jsonl")


def done_units(images_uri: str) -> dict[str, dict[str, Any]]:
    """The committed shards of an images folder by unit name: ``{"unit", "path", "rows", "errors"}``."""
    return {f["unit"]: f for entry in rows.CommitLog(images_uri).entries() for f in entry["files"]}


def commit_shards(images_uri: str, summaries: list[dict[str, Any]]) -> None:
    """Commit drawn shards (``{"name", "rows", "errors"}`` of each unit) in one entry of the images commit log."""
    if summaries:
        files = [{"unit": s["name"], "path": f"{s['name']}.parquet", "rows": s["rows"], "errors": s["errors"]}
                 for s in summaries]  # fmt: skip
        # A unit is committed at most once (done units are never drawn again): its name names the entry.
        rows.CommitLog(images_uri).commit(summaries[0]["name"], files)


def write_shard(images_uri: str, name: str, images: pa.Table, errors: pa.Table) -> None:
    """Record a unit: its error rows first (if any), then its shard, each written atomically."""
    if errors.num_rows:
        lines = "".join(json.dumps(row) + "\n" for row in errors.to_pylist())
        storage.write_text(errors_uri(images_uri, name), lines)
    buffer = io.BytesIO()
    pq.write_table(images, buffer)
    storage.write_bytes(shard_uri(images_uri, name), buffer.getvalue())


def read_errors(images_uri: str) -> list[dict[str, Any]]:
    """Every recorded failed caption with its reason."""
    return [
        json.loads(line)
        for uri in storage.list_files(storage.join(images_uri, ERRORS_DIR), ".jsonl")
        for line in storage.read_text(uri).splitlines()
    ]
