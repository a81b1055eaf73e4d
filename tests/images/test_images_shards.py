from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synclr_ray import rows
from synclr_ray.images import shards

Rows = Callable[..., list[dict[str, Any]]]


def test_units_cover_every_committed_caption_row_once(
    tmp_path: Path, caption_rows: Rows, write_captions: Callable
) -> None:
    write_captions(str(tmp_path), "a", caption_rows(5))
    write_captions(str(tmp_path), "b", caption_rows(2, start=5))
    # Published but never committed (a run died in between): no unit reads it.
    pq.write_table(rows.to_table(caption_rows(3, start=7), rows.CAPTION_SCHEMA), tmp_path / "c.parquet")
    units = shards.plan_units(str(tmp_path), 2)
    assert [(u.name, u.start, u.stop) for u in units] == [
        ("a-00000", 0, 2),
        ("a-00001", 2, 4),
        ("a-00002", 4, 5),
        ("b-00000", 0, 2),
    ]
    ids = [i for u in units for i in shards.read_captions(u)["caption_id"].to_pylist()]
    assert ids == [f"cap-{i:04d}" for i in range(7)]
    assert shards.read_captions(units[0]).schema == rows.CAPTION_SCHEMA


def test_bad_caption_input_names_the_file(tmp_path: Path, caption_rows: Rows, write_captions: Callable) -> None:
    with pytest.raises(shards.CaptionInputError, match="no committed caption files"):
        shards.plan_units(str(tmp_path), 2)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    rows.CommitLog(str(tmp_path)).commit("broken", [{"path": "broken.parquet"}])
    with pytest.raises(shards.CaptionInputError, match=f"{tmp_path / 'broken.parquet'} is not readable Parquet"):
        shards.plan_units(str(tmp_path), 2)
    (tmp_path / "_commits" / "broken.json").unlink()
    old = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "concept"} for r in caption_rows(1)])
    pq.write_table(old, tmp_path / "old.parquet")
    rows.CommitLog(str(tmp_path)).commit("old", [{"path": "old.parquet"}])
    with pytest.raises(shards.CaptionInputError, match="old.parquet lacks column.s. concept"):
        shards.plan_units(str(tmp_path), 2)


def test_a_unit_is_done_once_its_shard_is_committed(tmp_path: Path, caption_rows: Rows) -> None:
    images_uri = str(tmp_path / "images")
    error = {**caption_rows(1)[0], "caption": "", "error": "caption is empty"}
    shards.write_shard(
        images_uri, "a-00000", rows.IMAGE_SCHEMA.empty_table(), rows.to_table([error], rows.ERROR_SCHEMA)
    )
    shards.write_shard(images_uri, "a-00001", rows.IMAGE_SCHEMA.empty_table(), rows.ERROR_SCHEMA.empty_table())
    assert shards.done_units(images_uri) == {}  # written, not committed: drawn again by a rerun
    shards.commit_shards(
        images_uri, [{"name": "a-00000", "rows": 0, "errors": 1}, {"name": "a-00001", "rows": 0, "errors": 0}]
    )
    done = shards.done_units(images_uri)
    assert set(done) == {"a-00000", "a-00001"} and done["a-00000"]["errors"] == 1
    assert rows.CommitLog(images_uri).files() == [f"{images_uri}/a-00000.parquet", f"{images_uri}/a-00001.parquet"]
    assert shards.read_errors(images_uri) == [error]
    assert not list(Path(images_uri).glob(".*"))  # atomic writes leave no temp files behind
