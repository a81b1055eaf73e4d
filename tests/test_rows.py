"""The row contract: schemas, conforming rows, commit logs, and data folders that open as-is."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from synclr_ray import rows


def _caption(index: int, **extra) -> dict:
    return {"caption_id": f"c{index}", "index": index, "epoch": 0, "caption": "a red fox", "concept": "fox",
            "concept_source": "imagenet1k", "template": "c", "seed": index, **extra}  # fmt: skip


def test_each_stage_row_extends_the_one_before():
    assert rows.PROMPT_SCHEMA.names[:3] == rows.CAPTION_SCHEMA.names[:3] == ["caption_id", "index", "epoch"]
    assert set(rows.PROMPT_SCHEMA.names) - set(rows.CAPTION_SCHEMA.names) == {"prompt"}
    assert rows.IMAGE_SCHEMA.names[: len(rows.CAPTION_SCHEMA)] == rows.CAPTION_SCHEMA.names
    assert rows.ERROR_SCHEMA.names == [*rows.CAPTION_SCHEMA.names, "error"]
    assert set(rows.TRAINING_COLUMNS) <= set(rows.IMAGE_SCHEMA.names)


def test_conform_selects_orders_and_casts_and_names_what_is_missing():
    table = pa.table({"extra": [1], **{k: [v] for k, v in reversed(_caption(3).items())}})
    conformed = rows.conform(table.set_column(1, "seed", pa.array([3], pa.int32())), rows.CAPTION_SCHEMA)
    assert conformed.schema == rows.CAPTION_SCHEMA and conformed.to_pylist() == [_caption(3)]
    with pytest.raises(rows.RowFormatError, match="my.parquet lack column.s. epoch, caption"):
        rows.conform(table.drop_columns(["epoch", "caption"]), rows.CAPTION_SCHEMA, "my.parquet")
    with pytest.raises(rows.RowFormatError, match="lacks column.s. epoch"):
        rows.to_table([{k: v for k, v in _caption(1).items() if k != "epoch"}], rows.CAPTION_SCHEMA)
    assert rows.row_keys(rows.to_table([_caption(5), _caption(7, epoch=2)], rows.CAPTION_SCHEMA)) == [(0, 5), (2, 7)]


def test_a_file_counts_once_the_commit_log_names_it(tmp_path: Path):
    folder = str(tmp_path / "captions")
    log = rows.CommitLog(folder)
    assert log.entries() == [] and log.files() == []
    rows.write_rows(folder, "b", rows.to_table([_caption(2)], rows.CAPTION_SCHEMA), rows.CAPTION_SCHEMA)
    (tmp_path / "captions" / "a.parquet").write_bytes((tmp_path / "captions" / "b.parquet").read_bytes())
    assert log.files() == [f"{folder}/b.parquet"]  # a.parquet was never committed
    log.commit("a", [{"path": "a.parquet", "rows": 1}], note="by hand")
    assert log.files() == [f"{folder}/a.parquet", f"{folder}/b.parquet"]
    assert [(e["name"], e["format"]) for e in log.entries()] == [("a", rows.FORMAT_VERSION), ("b", rows.FORMAT_VERSION)]
    assert log.entries()[0]["note"] == "by hand"
    with pytest.raises(rows.RowFormatError, match="a.json is already committed"):
        log.commit("a", [{"path": "b.parquet"}])
    with pytest.raises(
        FileNotFoundError, match=r"no committed image rows under .*nothing \(its _commits/ names none\): run it"
    ):
        rows.committed_files(str(tmp_path / "nothing"), "image rows", "run it")


def test_folders_of_another_row_format_are_refused_not_misread(tmp_path: Path):
    old = tmp_path / "captions"
    (old / "round-00000").mkdir(parents=True)
    (old / "progress.json").write_text(json.dumps({"rounds": [{"dir": "round-00000"}]}))
    with pytest.raises(rows.RowFormatError, match=r"older synclr-ray \(row format 1: progress.json"):
        rows.CommitLog(str(old)).files()
    newer = tmp_path / "images" / "_commits"
    newer.mkdir(parents=True)
    (newer / "x.json").write_text(json.dumps({"format": rows.FORMAT_VERSION + 1, "files": []}))
    with pytest.raises(rows.RowFormatError, match=f"records row format {rows.FORMAT_VERSION + 1}"):
        rows.CommitLog(str(tmp_path / "images")).files()


def test_a_data_folder_opens_as_is_in_pandas_and_pyarrow(tmp_path: Path):
    folder = tmp_path / "images"
    table = rows.to_table([{**_caption(i), "images": [b"\xff\xd8"], "seeds": [i], "width": 8, "height": 8,
                            "generator": "{}"} for i in range(3)], rows.IMAGE_SCHEMA)  # fmt: skip
    rows.write_rows(str(folder), "part-0", table.slice(0, 2), rows.IMAGE_SCHEMA)
    rows.write_rows(str(folder), "part-1", table.slice(2), rows.IMAGE_SCHEMA)
    for name, text in (("_manifest.json", "{}"), ("_config.yaml", "seed: 0"), ("_errors/part-0.jsonl", "{}\n")):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    assert len(pd.read_parquet(folder)) == 3
    assert pads.dataset(folder).to_table().schema == rows.IMAGE_SCHEMA
