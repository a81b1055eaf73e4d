"""``synclr images`` and ``synclr show`` as a user types them: the samples figure, and roots that cannot be read."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from synclr_ray import rows
from synclr_ray.images.encoding import encode_image


def _image_rows(count: int, colour: tuple[int, int, int]) -> pa.Table:
    """Committed image rows (`rows.IMAGE_SCHEMA`) of 4 solid-colour images per caption."""
    image = encode_image(Image.new("RGB", (32, 32), colour), 32, "jpeg", 95)
    records = [{"caption_id": f"cap-{i:04d}", "index": i, "epoch": 0, "caption": f"caption number {i}",
                "concept": "red fox", "concept_source": "imagenet-1k", "template": "c -> caption", "seed": i,
                "images": [image] * 4, "seeds": [0, 1, 2, 3], "width": 32, "height": 32, "generator": "{}"}
               for i in range(count)]  # fmt: skip
    return rows.to_table(records, rows.IMAGE_SCHEMA)


def test_show_writes_the_samples_figure(synclr, tmp_path: Path) -> None:
    rows.write_rows(str(tmp_path / "images"), "part-00000", _image_rows(2, (200, 0, 0)), rows.IMAGE_SCHEMA)
    ran = synclr("show", "--root", str(tmp_path), "--num-captions", "2")
    assert ran.code == 0, ran.err
    assert ran.out == str(tmp_path / "figures" / "samples.png")
    with Image.open(tmp_path / "figures" / "samples.png") as image:
        assert image.format == "PNG"


def test_images_without_captions_fails_naming_the_folder(synclr, ray_cluster: None, tmp_path: Path) -> None:
    ran = synclr("images", "--root", str(tmp_path))
    assert ran.code == 1
    assert ran.err.startswith(f"error: no committed caption files under {tmp_path}/captions")
    assert not (tmp_path / "images").exists()  # failed before writing anything


def test_a_root_of_the_old_layout_is_refused_not_misread(synclr, ray_cluster: None, tmp_path: Path) -> None:
    old = tmp_path / "captions" / "round-00000"
    old.mkdir(parents=True)
    pq.write_table(
        pa.table({"caption_id": ["s0-000000000000"], "caption": ["a red fox in the snow"]}), old / "a.parquet"
    )
    (tmp_path / "captions" / "progress.json").write_text(json.dumps({"seed": 0, "rounds": [{"dir": "round-00000"}]}))
    ran = synclr("images", "--root", str(tmp_path))
    assert ran.code == 1 and "older synclr-ray (row format 1: progress.json" in ran.err
    assert not (tmp_path / "images").exists()
