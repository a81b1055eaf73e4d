from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from PIL import Image
from typer.testing import CliRunner

from synclr_ray import rows
from synclr_ray.cli import app

runner = CliRunner()


def test_show_writes_the_samples_figure(tmp_path: Path, image_rows: Callable[..., pa.Table]) -> None:
    rows.write_rows(str(tmp_path / "images"), "part-00000", image_rows(2, [(200, 0, 0)] * 4), rows.IMAGE_SCHEMA)
    result = runner.invoke(app, ["show", "--root", str(tmp_path), "--rows", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "figures" / "samples.png")
    with Image.open(tmp_path / "figures" / "samples.png") as image:
        assert image.format == "PNG"


def test_images_without_captions_fails_naming_the_folder(ray_cluster: None, tmp_path: Path) -> None:
    result = runner.invoke(app, ["images", "--root", str(tmp_path)])
    assert result.exit_code != 0
    assert f"no committed caption files under {tmp_path}/captions" in str(result.exception)
    assert not (tmp_path / "images").exists()  # failed before writing anything
