"""The input of ``embed-dataset`` cut into units, each embedded into one output shard, and read back as images.

Two kinds of input, local or object store:

- a folder of image files at any depth (an ImageFolder, with or without split folders): units
  of ``embed.shard_images`` files in path order; ``id`` is the path below the folder.
- Parquet: one file, or a folder of ``*.parquet`` files, with an ``image`` column (encoded
  bytes, or Hugging Face's ``{bytes, path}`` struct) or an ``images`` column (lists of encoded
  images: the images stage's rows, one embedding per image). Units are row ranges of one file;
  ``id`` is the ``id`` column, else ``<caption_id>/<k>`` for ``images`` rows, else ``<file>#<row>``.

``path`` is where the image came from: its file, or its Parquet file.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synclr_ray import rows, storage
from synclr_ray.eval.datasets import image_files

IMAGE_COLUMNS = ("image", "images")


class EmbedInputError(ValueError):
    """An input that cannot be embedded; the message names the file or column."""


@dataclass(frozen=True)
class Unit:
    """Rows ``[start, stop)`` of Parquet file ``source``, or the image ``files`` under folder ``source``."""

    name: str
    source: str
    start: int = 0
    stop: int = 0
    files: list[str] = field(default_factory=list)


@dataclass
class Images:
    """Encoded images of one unit with their ids and origins."""

    ids: list[str]
    paths: list[str]
    data: list[bytes]


def _parquet_files(uri: str) -> list[str]:
    """A Parquet file, the committed files of a stage's data folder (ROOT/images, ROOT/stream: a file written
    but not yet committed by a running or crashed stage is not read), or every Parquet file of another folder."""
    if uri.endswith(".parquet") and storage.exists(uri):
        return [uri]
    log = rows.CommitLog(uri)
    if storage.exists(log.uri):
        return log.files()
    return [f for f in storage.list_files(uri, ".parquet") if "/_" not in storage.filesystem(f)[1]]


def plan_units(input_uri: str, shard_images: int) -> list[Unit]:
    """The units of an input, in a fixed order; raises EmbedInputError naming what is unusable."""
    if not storage.exists(input_uri):
        raise EmbedInputError(f"--input {input_uri}: no such file or directory")
    files = _parquet_files(input_uri)
    if files:
        return [unit for uri in files for unit in _parquet_units(uri, input_uri, shard_images)]
    try:
        images = image_files(input_uri)
    except ValueError as exc:
        raise EmbedInputError(f"--input {exc}: expected image files or Parquet files of images") from None
    return [
        Unit(f"part-{i // shard_images:05d}", input_uri, files=images[i : i + shard_images])
        for i in range(0, len(images), shard_images)
    ]


def _parquet_units(uri: str, input_uri: str, shard_images: int) -> list[Unit]:
    fs, path = storage.filesystem(uri)
    try:
        metadata = pq.read_metadata(path, filesystem=fs)
    except (OSError, pa.ArrowException) as exc:
        raise EmbedInputError(f"{uri} is not readable Parquet: {exc}") from None
    names = metadata.schema.to_arrow_schema().names
    if not any(name in names for name in IMAGE_COLUMNS):
        raise EmbedInputError(f"{uri} has no image column (image or images); it has {', '.join(names)}")
    base = storage.filesystem(input_uri)[1]
    rel = path.rsplit("/", 1)[1] if path == base else path[len(base) + 1 :]
    stem = rel.removesuffix(".parquet").replace("/", "__")
    # The images stage's rows hold several images each: a unit of rows still yields about shard_images images.
    rows = shard_images if "image" in names else max(1, shard_images // 4)
    return [
        Unit(f"{stem}-{i:05d}", uri, start, min(start + rows, metadata.num_rows))
        for i, start in enumerate(range(0, metadata.num_rows, rows))
    ]


def plan_digest(units: list[Unit]) -> str:
    """A digest of the plan: a rerun into the same output must cut the same input the same way."""
    return "sha256:" + hashlib.sha256(json.dumps([asdict(u) for u in units], sort_keys=True).encode()).hexdigest()


def read_unit(unit: Unit) -> Images:
    """The encoded images of a unit."""
    if unit.files:
        base = storage.filesystem(unit.source)[1]
        ids = [storage.filesystem(f)[1][len(base) + 1 :] for f in unit.files]
        return Images(ids=ids, paths=list(unit.files), data=[storage.read_bytes(f) for f in unit.files])
    fs, path = storage.filesystem(unit.source)
    schema = pq.read_schema(path, filesystem=fs)
    column = "image" if "image" in schema.names else "images"
    wanted = [c for c in (column, "id", "caption_id") if c in schema.names]
    table = pq.read_table(path, filesystem=fs, columns=wanted).slice(unit.start, unit.stop - unit.start)
    name = path.rsplit("/", 1)[1]
    keys = (
        pc.cast(table["id"], pa.string()).to_pylist()
        if "id" in wanted
        else pc.cast(table["caption_id"], pa.string()).to_pylist()
        if "caption_id" in wanted
        else [f"{name}#{unit.start + i}" for i in range(table.num_rows)]
    )
    values = table[column].to_pylist()
    ids, data = [], []
    for key, value in zip(keys, values, strict=True):
        if column == "images":
            ids += [f"{key}/{k}" for k in range(len(value or []))]
            data += list(value or [])
        else:
            ids.append(key)
            data.append(value["bytes"] if isinstance(value, dict) else value)
    return Images(ids=ids, paths=[unit.source] * len(ids), data=data)
