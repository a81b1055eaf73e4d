"""The training figure: one PNG of the loss terms, learning rate and throughput from metrics.jsonl."""

import json

import pytest
from PIL import Image

from synclr_ray.train.figures import write_training_figure


def test_training_figure_is_a_png_of_the_records(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    records = [{"step": s, "loss": 4.0 / s, "ibot": 1.0 / s, "lr": 1e-3 * s, "images_per_s": 30.0, "data_wait": 0.05}
               for s in (1, 2, 3)]  # fmt: skip
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "figures" / "training.png"
    assert write_training_figure(str(metrics), str(out)) == str(out)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > image.height > 200


def test_empty_metrics_name_the_file(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n")
    with pytest.raises(ValueError, match="metrics.jsonl holds no training records"):
        write_training_figure(str(metrics), str(tmp_path / "out.png"))
