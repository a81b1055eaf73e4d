"""Per-concept backgrounds: parsing a completion, the shipped fallback lists, a user's table."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synclr_ray import storage
from synclr_ray.captions.backgrounds import SCHEMA, generic_backgrounds, load_backgrounds, parse_backgrounds


def test_parse_backgrounds():
    assert parse_backgrounds(
        " dense jungle; tall grass ; ; dense jungle; a very long background phrase that goes on and on\nx"
    ) == [
        "dense jungle",
        "tall grass",
    ]


def test_generic_lists_have_a_default_for_any_source():
    lists = generic_backgrounds()
    assert lists["default"] and all(isinstance(b, str) and b for b in lists["default"])
    assert all(len(items) == len(set(items)) for items in lists.values())


def test_a_users_table_loads_and_a_bad_one_names_the_field(tmp_path, s3_bucket):
    table = pa.Table.from_pylist(
        [{"concept": "fox", "backgrounds": ["snowy forest", "meadow"]}, {"concept": "owl", "backgrounds": []}],
        schema=SCHEMA,
    )
    for uri in (str(tmp_path / "bg.parquet"), f"{s3_bucket}/bg.parquet"):
        fs, path = storage.filesystem(uri)
        pq.write_table(table, path, filesystem=fs)
        assert load_backgrounds(uri) == {"fox": ("snowy forest", "meadow")}  # a concept without any is left out
    with pytest.raises(ValueError, match="captions.backgrounds: cannot read a concept/backgrounds table"):
        load_backgrounds(str(tmp_path / "missing.parquet"))
