import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import ray

from synclr_ray import rows, storage
from synclr_ray.config import Config
from synclr_ray.images import shards
from synclr_ray.images.stage import ImageStage, run_images
from synclr_ray.seeds import image_seeds

Rows = Callable[..., list[dict[str, Any]]]
WriteCaptions = Callable[[str, str, list[dict[str, Any]]], str]


def _image_rows(images_uri: str) -> pa.Table:
    fs, _ = storage.filesystem(images_uri)
    files = [storage.filesystem(f)[1] for f in rows.CommitLog(images_uri).files()]
    return pa.concat_tables([pq.read_table(f, filesystem=fs) for f in files])


def test_stage_writes_all_captions_once_and_resumes_after_a_crash(
    ray_cluster: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    images_config: Callable[..., Config],
    caption_rows: Rows,
    write_captions: WriteCaptions,
) -> None:
    monkeypatch.chdir(tmp_path)
    root = "run"  # relative, as in `synclr images --root runs/demo`
    captions_uri = str(tmp_path / root / "captions")
    records = caption_rows(7)
    records[2]["caption"] = ""  # recorded in the errors table, not silently dropped
    write_captions(captions_uri, "part-a", records[:4])
    write_captions(captions_uri, "part-b", records[4:5])
    bad = Path(write_captions(captions_uri, "part-c", records[5:]))
    _corrupt_first_page(bad)  # its footer still reads: found only when the unit is drawn
    cfg = images_config()
    images_uri = f"{root}/images"

    with pytest.raises(
        RuntimeError, match=r"1 of 4 shards failed .*part-c-00000: CaptionInputError: caption file .*part-c.parquet"
    ):
        run_images(cfg, root)
    manifest = storage.read_json(f"{images_uri}/{shards.MANIFEST_FILE}")
    assert not manifest["complete"] and (manifest["units_done"], manifest["rows"], manifest["errors"]) == (3, 4, 1)
    assert storage.exists(f"{images_uri}/_config.yaml")
    table = _image_rows(images_uri)
    assert table.schema == rows.IMAGE_SCHEMA
    assert sorted(table["caption_id"].to_pylist()) == ["cap-0000", "cap-0001", "cap-0003", "cap-0004"]
    assert all(len(images) == 4 for images in table["images"].to_pylist())
    assert [(e["caption_id"], e["error"]) for e in shards.read_errors(images_uri)] == [("cap-0002", "caption is empty")]

    # The input is repaired; meanwhile a crash came between writing shards and committing them
    # (and left a half-written temp file of another).
    pq.write_table(rows.to_table(records[5:], rows.CAPTION_SCHEMA), bad)
    entry = next(e for e in rows.CommitLog(images_uri).entries() if "part-a-00001" in {f["unit"] for f in e["files"]})
    Path(images_uri, "_commits", f"{entry['name']}.json").unlink()
    uncommitted = {f["path"] for f in entry["files"]}
    lost = Path(shards.shard_uri(images_uri, "part-a-00001"))
    lost_rows = pq.read_table(lost)
    (lost.parent / ".part-b-00000.parquet.0badc0de.tmp").write_bytes(b"PAR1 half a shard")
    kept = {p.name: p.stat().st_mtime_ns for p in Path(images_uri).glob("*.parquet") if p.name not in uncommitted}

    manifest = run_images(cfg, root)
    assert manifest["complete"] and (
        manifest["units_done"],
        manifest["rows"],
        manifest["images"],
        manifest["errors"],
    ) == (4, 6, 24, 1)
    assert {p.name: p.stat().st_mtime_ns for p in Path(images_uri).glob("*.parquet") if p.name in kept} == kept
    assert pq.read_table(lost).equals(lost_rows)  # redrawn from the same seeds: identical bytes
    table = _image_rows(images_uri)
    assert sorted(table["caption_id"].to_pylist()) == [f"cap-{i:04d}" for i in range(7) if i != 2]
    # The folder opens as-is: metadata (_commits/, _errors/, _manifest.json, _config.yaml) and temp files are skipped.
    assert sorted(pd.read_parquet(images_uri)["caption_id"]) == sorted(table["caption_id"].to_pylist())
    assert pads.dataset(images_uri).schema == rows.IMAGE_SCHEMA

    stamps = {p.name: p.stat().st_mtime_ns for p in Path(images_uri).glob("*.parquet")}
    assert run_images(cfg, root) == manifest  # complete: nothing to do, nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in Path(images_uri).glob("*.parquet")} == stamps

    with pytest.raises(ValueError, match="'images.guidance_scale'"):
        run_images(images_config("images.guidance_scale=4.0"), root)


def test_a_caption_file_counts_once_committed(
    ray_cluster: None,
    root: str,
    images_config: Callable[..., Config],
    caption_rows: Rows,
    write_captions: WriteCaptions,
) -> None:
    captions_uri = f"{root}/captions"
    write_captions(captions_uri, "round-a", caption_rows(2))
    # A round published (moved into place) but not logged when its run died.
    pq.write_table(rows.to_table(caption_rows(1, start=2), rows.CAPTION_SCHEMA), f"{captions_uri}/round-b.parquet")
    cfg = images_config()
    assert run_images(cfg, root)["rows"] == 2
    assert sorted(_image_rows(f"{root}/images")["caption_id"].to_pylist()) == ["cap-0000", "cap-0001"]
    rows.CommitLog(captions_uri).commit("round-b", [{"path": "round-b.parquet"}])
    assert run_images(cfg, root)["rows"] == 3


def _corrupt_first_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4:40] = b"\xff" * 36  # after the leading magic: the first page header
    path.write_bytes(bytes(data))


def test_stage_on_s3(
    ray_cluster: None,
    s3_bucket: str,
    images_config: Callable[..., Config],
    caption_rows: Rows,
    write_captions: WriteCaptions,
) -> None:
    root = f"{s3_bucket}/run"
    write_captions(f"{root}/captions", "part-0", caption_rows(3))
    manifest = run_images(images_config(), root)
    assert manifest["complete"] and manifest["rows"] == 3 and manifest["errors"] == 0
    listed = storage.list_files(f"{root}/images")
    assert sorted(f.removeprefix(f"{root}/images/") for f in listed) == [
        "_commits/part-0-00000.json",
        "_config.yaml",
        "_manifest.json",
        "part-0-00000.parquet",
        "part-0-00001.parquet",
    ]
    table = _image_rows(f"{root}/images")
    assert table.schema == rows.IMAGE_SCHEMA and sorted(table["caption_id"].to_pylist()) == [
        "cap-0000",
        "cap-0001",
        "cap-0002",
    ]
    assert os.path.basename(rows.CommitLog(f"{root}/images").files()[0]) == "part-0-00000.parquet"


def test_image_stage_seeds_follow_each_rows_epoch(
    ray_cluster: None, images_config: Callable[..., Config], caption_rows: Rows
) -> None:
    captions = ray.data.from_arrow(rows.to_table([{**r, "epoch": 2} for r in caption_rows(3)], rows.CAPTION_SCHEMA))
    drawn = sorted(ImageStage(images_config())(captions).take_all(), key=lambda row: row["caption_id"])
    assert [row["caption_id"] for row in drawn] == ["cap-0000", "cap-0001", "cap-0002"]
    for row in drawn:
        assert row["epoch"] == 2 and list(row["seeds"]) == image_seeds(0, row["caption_id"], 2, 4)
        assert len(row["images"]) == 4
