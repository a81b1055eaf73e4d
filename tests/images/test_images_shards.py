from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from synclr_ray.images import shards
from synclr_ray.images.schema import ERROR_SCHEMA, IMAGE_SCHEMA

Rows = Callable[..., list[dict[str, Any]]]


def test_units_cover_every_caption_row_once(tmp_path: Path, caption_rows: Rows, write_captions: Callable) -> None:
    write_captions(str(tmp_path / "a.parquet"), caption_rows(5))
    write_captions(str(tmp_path / "sub" / "b.parquet"), caption_rows(2, start=5))
    units = shards.plan_units(str(tmp_path), 2)
    assert [(u.name, u.start, u.stop) for u in units] == [
        ("a-00000", 0, 2),
        ("a-00001", 2, 4),
        ("a-00002", 4, 5),
        ("sub__b-00000", 0, 2),
    ]
    ids = [i for u in units for i in shards.read_captions(u)["caption_id"].to_pylist()]
    assert ids == [f"cap-{i:04d}" for i in range(7)]


def test_bad_caption_input_names_the_file(tmp_path: Path, caption_rows: Rows, write_captions: Callable) -> None:
    with pytest.raises(shards.CaptionInputError, match="no caption files"):
        shards.plan_units(str(tmp_path), 2)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(shards.CaptionInputError, match=f"{tmp_path / 'broken.parquet'} is not readable Parquet"):
        shards.plan_units(str(tmp_path), 2)
    (tmp_path / "broken.parquet").unlink()
    write_captions(
        str(tmp_path / "old.parquet"), [{k: v for k, v in r.items() if k != "concept"} for r in caption_rows(1)]
    )
    with pytest.raises(shards.CaptionInputError, match="old.parquet lacks column.s. concept"):
        shards.plan_units(str(tmp_path), 2)


def test_a_unit_is_done_once_its_shard_exists(tmp_path: Path) -> None:
    images_uri = str(tmp_path / "images")
    error = {
        "caption_id": "c1",
        "caption": "",
        "concept": "x",
        "concept_source": "y",
        "template": "z",
        "error": "caption is empty",
    }
    shards.write_shard(
        images_uri, "a-00000", IMAGE_SCHEMA.empty_table(), pa.Table.from_pylist([error], schema=ERROR_SCHEMA)
    )
    shards.write_shard(images_uri, "a-00001", IMAGE_SCHEMA.empty_table(), ERROR_SCHEMA.empty_table())
    assert shards.done_units(images_uri) == {"a-00000", "a-00001"}
    assert shards.read_errors(images_uri) == [error]
    assert shards.shard_counts(images_uri, "a-00000") == {"name": "a-00000", "rows": 0, "errors": 1}
    assert not list(Path(images_uri).glob(".*"))  # atomic writes leave no temp files behind
