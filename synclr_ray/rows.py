"""The row contract between stages: the schemas of the rows that pass from one stage to the next,
with a format version, and the commit logs that say which files of a data folder count.

    prompt rows -> captions -> caption rows -> images -> image rows (+ error rows) -> trainer

A caption row is a prompt row's identity plus its caption; an image row is the caption row plus
its images; an error row is a caption row that could not be drawn, plus the reason. ``index`` is
the prompt index the caption was planned at and ``epoch`` the generation pass that drew it (0 for
staged runs; a streaming run that cycles over a fixed set of captions counts its passes), so
``(epoch, index)`` names a row's place in a generation stream and enters its image seeds.

Data folders hold data: each stage's output folder holds Parquet files of one schema, and its
metadata is ``_``-prefixed (``_commits/``, ``_manifest.json``, ``_config.yaml``, ``_errors/``), the
Hive/Spark convention that pandas, pyarrow, Polars and DuckDB skip, so every folder opens as-is.
A data file counts once an entry of the folder's commit log (``_commits/<entry>.json``) names it;
every consumer reads exactly the committed files, never a listing of the folder.
"""

import io
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from synclr_ray import storage

log = logging.getLogger(__name__)

# Row format 2: `index` and `epoch` on every caption and image row, `_`-prefixed metadata, commit logs.
FORMAT_VERSION = 2

COMMITS_DIR = "_commits"
# Metadata of row format 1 (before commit logs): a folder holding them is refused, never misread.
_FORMAT_1_MARKERS = ("progress.json", "manifest.json", "config.yaml", "errors", "epoch-00000")

Key = tuple[int, int]  # (epoch, index): a row's place in a generation stream

_CAPTION_IDENTITY = [
    pa.field("caption_id", pa.string()),
    pa.field("index", pa.int64()),
    pa.field("epoch", pa.int64()),
]
_PROMPT_PLAN = [
    pa.field("concept", pa.string()),
    pa.field("concept_source", pa.string()),
    pa.field("template", pa.string()),
    pa.field("seed", pa.int64()),
]

PROMPT_SCHEMA = pa.schema([*_CAPTION_IDENTITY, *_PROMPT_PLAN, pa.field("prompt", pa.string())])
"""What the caption stage reads: one planned prompt (``seed`` is its LLM sampling seed)."""

CAPTION_SCHEMA = pa.schema([*_CAPTION_IDENTITY, pa.field("caption", pa.string()), *_PROMPT_PLAN])
"""What the caption stage writes and the image stage reads."""

IMAGE_SCHEMA = pa.schema(
    [
        *CAPTION_SCHEMA,
        pa.field("images", pa.list_(pa.binary())),  # images_per_caption encoded JPEG/WebP images, never split
        pa.field("seeds", pa.list_(pa.int64())),  # the initial-noise seed of each image
        pa.field("width", pa.int64()),
        pa.field("height", pa.int64()),
        pa.field("generator", pa.string()),  # JSON: model id and sampling settings
    ]
)
"""What the image stage writes and the trainer reads: a caption row plus all its images."""

ERROR_SCHEMA = pa.schema([*CAPTION_SCHEMA, pa.field("error", pa.string())])
"""A caption row the image stage could not draw, with the reason."""

TRAINING_COLUMNS = ("caption_id", "epoch", "index", "images")
"""What the trainer reads of an image row."""


class RowFormatError(ValueError):
    """Rows or a data folder that do not follow the contract; the message names the file or column."""


def conform(table: pa.Table, schema: pa.Schema, source: str = "rows") -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order and cast to its types (extra columns dropped).

    Raises `RowFormatError` naming ``source`` and the missing columns.
    """
    missing = [name for name in schema.names if name not in table.column_names]
    if missing:
        raise RowFormatError(
            f"{source} lack column(s) {', '.join(missing)} (have {', '.join(table.column_names)}); "
            f"row format {FORMAT_VERSION} is described in synclr_ray/rows.py"
        )
    return table.select(schema.names).cast(schema)


def to_table(records: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows as dicts -> a table of ``schema`` (a record lacking a column is an error, not a null)."""
    records = list(records)
    for record in records:
        missing = [name for name in schema.names if name not in record]
        if missing:
            raise RowFormatError(f"row {dict(record)!r:.200} lacks column(s) {', '.join(missing)}")
    return pa.Table.from_pylist(records, schema=schema)


def row_keys(table: pa.Table) -> list[Key]:
    """The ``(epoch, index)`` key of every row."""
    return list(zip(table.column("epoch").to_pylist(), table.column("index").to_pylist(), strict=True))


class CommitLog:
    """Which files of a data folder count: ``_commits/<entry>.json``, each entry naming files and their rows.

    An entry is written atomically after the files it names, so a crash between the two leaves
    files that no consumer reads (and a rerun rewrites). Entries are read in name order; their
    file paths are relative to the folder, so a folder can be copied anywhere (local or s3://).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder.rstrip("/")
        self.uri = storage.join(self.folder, COMMITS_DIR)

    def check_layout(self) -> None:
        """Refuse a folder written before commit logs (row format 1), rather than misread it."""
        fs, path = storage.filesystem(self.folder)
        if fs.get_file_info(path).type == pafs.FileType.NotFound or storage.exists(self.uri):
            return
        names = {info.base_name for info in fs.get_file_info(pafs.FileSelector(path))}
        old = sorted(names & set(_FORMAT_1_MARKERS))
        if old:
            raise RowFormatError(
                f"{self.folder} was written by an older synclr-ray (row format 1: {', '.join(old)}, no {COMMITS_DIR}/); "
                f"this version reads and writes row format {FORMAT_VERSION}: use a new --root or regenerate it"
            )

    def entries(self) -> list[dict[str, Any]]:
        """Every commit entry (with its ``name``), in name order."""
        self.check_layout()
        entries = []
        for uri in storage.list_files(self.uri, ".json"):
            entry = storage.read_json(uri)
            if entry.get("format") != FORMAT_VERSION:
                raise RowFormatError(
                    f"{uri} records row format {entry.get('format')}, this synclr-ray reads format {FORMAT_VERSION}: "
                    "use a new --root or regenerate it"
                )
            entries.append({**entry, "name": uri.rsplit("/", 1)[1].removesuffix(".json")})
        return sorted(entries, key=lambda entry: entry["name"])

    def files(self) -> list[str]:
        """URIs of the committed files, in commit order."""
        return [storage.join(self.folder, f["path"]) for entry in self.entries() for f in entry["files"]]

    def commit(self, name: str, files: list[dict[str, Any]], **info: Any) -> dict[str, Any]:
        """Record ``files`` (``{"path": relative to the folder, "rows": n}``) as entry ``name``; returns the entry."""
        uri = storage.join(self.uri, f"{name}.json")
        if storage.exists(uri):  # an entry is written once: a second writer of a name is a bug, not a retry
            raise RowFormatError(f"{uri} is already committed")
        entry = {"format": FORMAT_VERSION, "files": files, **info}
        storage.write_json(uri, entry)
        return {**entry, "name": name}


def committed_files(folder: str, what: str, hint: str) -> list[str]:
    """The committed files of ``folder``; raises FileNotFoundError naming ``what`` and ``hint`` when there are none."""
    files = CommitLog(folder).files()
    if not files:
        raise FileNotFoundError(f"no committed {what} under {folder} (its {COMMITS_DIR}/ names none): {hint}")
    return files


def write_rows(folder: str, name: str, table: pa.Table, schema: pa.Schema) -> str:
    """Write rows of ``schema`` as ``folder/<name>.parquet`` (atomically) and commit it: how rows made
    elsewhere join a data folder that stages read (e.g. your own image rows for ``synclr pretrain``).
    Returns the file's URI."""
    sink = io.BytesIO()
    pq.write_table(conform(table, schema), sink)
    uri = storage.join(folder, f"{name}.parquet")
    storage.write_bytes(uri, sink.getvalue())
    CommitLog(folder).commit(name, [{"path": f"{name}.parquet", "rows": table.num_rows}])
    return uri
