"""Cutting an embed-dataset input into units (image folders, Parquet of images or image rows) and reading them back."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synclr_ray import rows, storage
from synclr_ray.embed.units import EmbedInputError, plan_digest, plan_units, read_unit


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (value, value, value)).save(buf, format="PNG")
    return buf.getvalue()


def test_an_image_folder_at_any_depth_is_cut_in_path_order(tmp_path):
    for rel in ("train/cat/1.png", "train/cat/2.png", "train/dog/1.png", "val/x.png", "_skip.txt"):
        path = tmp_path / "in" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png(len(rel)) if rel.endswith(".png") else b"notes")
    units = plan_units(str(tmp_path / "in"), shard_images=3)
    assert [u.name for u in units] == ["part-00000", "part-00001"]
    first = read_unit(units[0])
    assert first.ids == ["train/cat/1.png", "train/cat/2.png", "train/dog/1.png"]
    assert first.data[0] == _png(len("train/cat/1.png")) and first.paths[0].endswith("train/cat/1.png")
    assert read_unit(units[1]).ids == ["val/x.png"]


def test_parquet_with_an_image_column_or_image_rows(tmp_path, s3_bucket):
    folder = f"{s3_bucket}/in"
    hf = pa.table({"image": [{"bytes": _png(i), "path": f"{i}.png"} for i in range(5)]})
    fs, path = storage.filesystem(storage.join(folder, "hf.parquet"))
    pq.write_table(hf, path, filesystem=fs)
    image_rows = rows.to_table(
        [{"caption_id": "c7", "index": 7, "epoch": 0, "caption": "a fox", "concept": "fox", "concept_source": "s",
          "template": "c", "seed": 1, "images": [_png(1), _png(2)], "seeds": [1, 2], "width": 4, "height": 4,
          "generator": "{}"}],
        rows.IMAGE_SCHEMA,
    )  # fmt: skip
    rows.write_rows(storage.join(folder, "stage"), "s", image_rows, rows.IMAGE_SCHEMA)
    units = plan_units(folder, shard_images=4)
    assert [u.name for u in units] == ["hf-00000", "hf-00001", "stage__s-00000"]
    assert read_unit(units[1]).ids == ["hf.parquet#4"] and read_unit(units[1]).data == [_png(4)]
    assert read_unit(units[2]).ids == ["c7/0", "c7/1"]  # one embedding per image of an image row
    assert plan_digest(units) == plan_digest(plan_units(folder, shard_images=4))
    assert plan_digest(units) != plan_digest(plan_units(folder, shard_images=2))


def test_a_stage_folder_gives_only_its_committed_files(tmp_path):
    """ROOT/images while a stage writes it: a file written but not yet committed is not embedded."""
    table = rows.to_table(
        [{"caption_id": f"c{i}", "index": i, "epoch": 0, "caption": "a fox", "concept": "fox", "concept_source": "s",
          "template": "c", "seed": i, "images": [_png(i)], "seeds": [i], "width": 4, "height": 4, "generator": "{}"}
         for i in range(2)],
        rows.IMAGE_SCHEMA,
    )  # fmt: skip
    folder = str(tmp_path / "images")
    rows.write_rows(folder, "part-0", table.slice(0, 1), rows.IMAGE_SCHEMA)
    pq.write_table(table.slice(1, 1), tmp_path / "images" / "part-1.parquet")  # its commit entry not yet written
    units = plan_units(folder, shard_images=4)
    assert [read_unit(u).ids for u in units] == [["c0/0"]]


def test_unusable_inputs_name_the_file_or_column(tmp_path):
    with pytest.raises(EmbedInputError, match="no such file or directory"):
        plan_units(str(tmp_path / "missing"), 4)
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "t.parquet")
    with pytest.raises(EmbedInputError, match="has no image column \\(image or images\\); it has text"):
        plan_units(str(tmp_path / "t.parquet"), 4)
