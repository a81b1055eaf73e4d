"""The image stage's files: caption inputs cut into units, image shards, error tables, the manifest.

A unit is a slice of ``images.shard_captions`` rows of one caption file; it becomes exactly one
image shard ``ROOT/images/<unit>.parquet``, written atomically. A unit is done when its shard
exists, so a rerun draws only the missing units and no caption is drawn twice. Captions that
could not be drawn go to ``ROOT/images/errors/<unit>.jsonl`` (written before the shard).
"""

import io
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synclr_ray import storage
from synclr_ray.images.schema import CAPTION_TEXT_COLUMNS

MANIFEST_FILE = "manifest.json"
ERRORS_DIR = "errors"


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
    """Cut every caption file under ``captions_uri`` into units, checking each file's footer and columns."""
    files = storage.list_files(captions_uri, ".parquet")
    if not files:
        raise CaptionInputError(
            f"no caption files (*.parquet) under {captions_uri}: run `synclr captions` or pass --captions"
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
    missing = [name for name in CAPTION_TEXT_COLUMNS if name not in names]
    if missing:
        raise CaptionInputError(f"caption file {uri} lacks column(s) {', '.join(missing)} (has {', '.join(names)})")
    return metadata.num_rows


def read_captions(unit: Unit) -> pa.Table:
    """The caption rows of one unit."""
    fs, path = storage.filesystem(unit.source)
    try:
        table = pq.read_table(path, filesystem=fs, columns=list(CAPTION_TEXT_COLUMNS))
    except (OSError, pa.ArrowException) as exc:
        raise CaptionInputError(f"caption file {unit.source} is not readable Parquet: {exc}") from None
    return table.slice(unit.start, unit.stop - unit.start)


def shard_uri(images_uri: str, name: str) -> str:
    """Where unit ``name``'s image rows live."""
    return storage.join(images_uri, f"{name}.parquet")


def errors_uri(images_uri: str, name: str) -> str:
    """Where unit ``name``'s failed captions are recorded (JSON lines, one per caption)."""
    return storage.join(images_uri, ERRORS_DIR, f"{name}.jsonl")


def done_units(images_uri: str) -> set[str]:
    """Names of the units whose shard exists."""
    prefix = storage.filesystem(images_uri)[1] + "/"
    return {
        path.removesuffix(".parquet")
        for path in (
            storage.filesystem(uri)[1].removeprefix(prefix) for uri in storage.list_files(images_uri, ".parquet")
        )
        if "/" not in path
    }


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


def shard_counts(images_uri: str, name: str) -> dict[str, Any]:
    """A manifest entry read back from storage: rows in the shard and error rows of the unit."""
    fs, path = storage.filesystem(shard_uri(images_uri, name))
    rows = pq.read_metadata(path, filesystem=fs).num_rows
    errors_file = errors_uri(images_uri, name)
    errors = len(storage.read_text(errors_file).splitlines()) if storage.exists(errors_file) else 0
    return {"name": name, "rows": rows, "errors": errors}
