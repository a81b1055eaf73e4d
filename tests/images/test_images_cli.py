import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from typer.testing import CliRunner

from synclr_ray import rows
from synclr_ray.cli import app

runner = CliRunner()


def test_show_writes_the_samples_figure(tmp_path: Path, image_rows: Callable[..., pa.Table]) -> None:
    rows.write_rows(str(tmp_path / "images"), "part-00000", image_rows(2, [(200, 0, 0)] * 4), rows.IMAGE_SCHEMA)
    result = runner.invoke(app, ["show", "--root", str(tmp_path), "--num-captions", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "figures" / "samples.png")
    with Image.open(tmp_path / "figures" / "samples.png") as image:
        assert image.format == "PNG"


def test_images_without_captions_fails_naming_the_folder(ray_cluster: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["images", "--root", str(tmp_path)])
    assert result.exit_code != 0
    assert f"no committed caption files under {tmp_path}/captions" in str(result.exception)
    assert not (tmp_path / "images").exists()  # failed before writing anything


def test_a_root_of_the_old_layout_is_refused_not_misread(ray_cluster: None, tmp_path: Path) -> None:
    old = tmp_path / "captions" / "round-00000"
    old.mkdir(parents=True)
    pq.write_table(
        pa.table({"caption_id": ["s0-000000000000"], "caption": ["a red fox in the snow"]}), old / "a.parquet"
    )
    (tmp_path / "captions" / "progress.json").write_text(json.dumps({"seed": 0, "rounds": [{"dir": "round-00000"}]}))
    result = runner.invoke(app, ["images", "--root", str(tmp_path)])
    assert result.exit_code != 0
    assert "older synclr-ray (row format 1: progress.json" in str(result.exception)
    assert not (tmp_path / "images").exists()
