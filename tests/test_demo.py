"""The demo: the embedded default end to end (streaming run, export, probes, Serve, figures) under one root."""

import json
from pathlib import Path

import pytest
from PIL import Image

from synclr_ray import rows
from synclr_ray.config import load_config
from synclr_ray.demo import PROBES, _sample_images, run_demo


def _image_row(index: int) -> dict:
    return {"caption_id": f"c{index}", "index": index, "epoch": 0, "caption": "a fox", "concept": "fox",
            "concept_source": "s", "template": "c", "seed": index, "images": [f"first-{index}".encode(), b"second"],
            "seeds": [index, index], "width": 8, "height": 8, "generator": "{}"}  # fmt: skip


def test_pca_inputs_are_the_first_image_of_the_first_committed_captions(tmp_path):
    stream = str(tmp_path / "stream")
    rows.write_rows(stream, "a", rows.to_table([_image_row(i) for i in range(3)], rows.IMAGE_SCHEMA), rows.IMAGE_SCHEMA)
    rows.write_rows(stream, "b", rows.to_table([_image_row(3)], rows.IMAGE_SCHEMA), rows.IMAGE_SCHEMA)
    (tmp_path / "stream" / "uncommitted.parquet").write_bytes(b"not read")
    uris = _sample_images(stream, str(tmp_path / "inputs"), 4)
    assert [Path(uri).name for uri in uris] == ["c0.jpg", "c1.jpg", "c2.jpg", "c3.jpg"]
    assert [Path(uri).read_bytes() for uri in uris] == [f"first-{i}".encode() for i in range(4)]
    assert len(_sample_images(stream, str(tmp_path / "two"), 2)) == 2


# The demo's own settings (cli/demo.py) at a few steps, generators at their smallest.
SMALL_DEMO = ["pipeline.write_through=true", "train.batch_captions=4", "train.steps=4", "train.checkpoint_every=2",
              "train.optim.warmup_steps=1", "train.loader_tasks=1", "captions.backgrounds=generic",
              "images.num_inference_steps=2", "ray.progress_bars=false"]  # fmt: skip


@pytest.mark.slow  # a streaming run, two probes and a Serve start: minutes on 2 cores
def test_the_demo_produces_every_output_and_an_http_answer(ray_cluster, tmp_path):
    root = tmp_path / "demo"
    summary = run_demo(load_config("tiny", SMALL_DEMO), str(root))
    assert summary["pipeline"]["step"] == 4
    assert set(summary["probes"]) == set(PROBES)
    for name, models in summary["probes"].items():
        assert set(models) == {"encoder", "baseline"}, name
        assert 0 <= models["encoder"]["linear"]["top1"] <= 1
    assert summary["serve"]["dim"] == load_config("tiny").train.backbone.kwargs["embed_dim"]
    assert len(summary["serve"]["head"]) == 4
    assert all(Image.open(figure).format == "PNG" for figure in summary["figures"])
    assert json.loads((root / "demo.json").read_text())["serve"]["dim"] == summary["serve"]["dim"]
    assert (root / "export" / "latest").is_file() and (root / "eval" / "probe-digits.json").is_file()
