"""The demo: the embedded default end to end (streaming run, export, probes, Serve, figures) under one root."""

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from synclr_ray import rows
from synclr_ray.config import load_config
from synclr_ray.demo import PROBES, _sample_images, run_demo
from synclr_ray.encoder import load_encoder


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


def _check_the_streaming_run(root: Path, report: dict) -> None:
    """One plan execution from the LLM through diffusion to the trainer, each row written through once."""
    assert report["step"] == 4 and report["executions"] == 1 and report["generated_from"] == report["regenerated"] == 0
    consumed = 4 * 4  # steps x captions per step
    assert consumed <= report["stages"]["images"]["rows"] <= report["stages"]["captions"]["rows"]
    stream = pd.concat(pd.read_parquet(f) for f in rows.CommitLog(str(root / "stream")).files())
    keys = list(zip(stream["epoch"], stream["index"], strict=True))
    assert consumed <= len(keys) == len(set(keys)) and keys == sorted(keys)  # in stream order, each once
    assert set(stream["epoch"]) == {0} and len(set(stream["caption_id"])) == len(keys)  # every caption new
    assert all(len(images) == len(seeds) == 4 for images, seeds in zip(stream["images"], stream["seeds"], strict=True))
    assert len(pd.read_parquet(root / "stream")) >= len(stream)  # the folder opens as-is
    final = json.loads(max((root / "train").glob("checkpoint_0*/state.json")).read_text())
    assert final["step"] == 4 and final["stream"]["trained"] == []
    assert final["stream"]["next"] > list(keys[consumed - 1])  # past the 16th row, which it trained
    assert load_encoder(report["export"]).info["feature_dim"] == 192
    assert 0 <= report["trainer"]["data_wait"] <= 1


# The demo's own settings (cli/demo.py) at a few steps, generators at their smallest.
SMALL_DEMO = ["pipeline.write_through=true", "train.batch_captions=4", "train.steps=4", "train.checkpoint_every=2",
              "train.optim.warmup_steps=1", "train.loader_tasks=1", "captions.backgrounds=generic",
              "images.num_inference_steps=2", "ray.progress_bars=false"]  # fmt: skip


@pytest.mark.slow  # a streaming run, two probes and a Serve start: minutes on 2 cores
def test_the_demo_produces_every_output_and_an_http_answer(ray_cluster, tmp_path):
    root = tmp_path / "demo"
    summary = run_demo(load_config("tiny", SMALL_DEMO), str(root))
    _check_the_streaming_run(root, summary["pipeline"])
    assert set(summary["probes"]) == set(PROBES)
    for name, models in summary["probes"].items():
        assert set(models) == {"encoder", "baseline"}, name
        assert 0 <= models["encoder"]["linear"]["top1"] <= 1
    assert summary["serve"]["dim"] == load_config("tiny").train.backbone.kwargs["embed_dim"]
    assert len(summary["serve"]["head"]) == 4
    assert all(Image.open(figure).format == "PNG" for figure in summary["figures"])
    assert json.loads((root / "demo.json").read_text())["serve"]["dim"] == summary["serve"]["dim"]
    assert (root / "export" / "latest").is_file() and (root / "eval" / "probe-digits.json").is_file()
