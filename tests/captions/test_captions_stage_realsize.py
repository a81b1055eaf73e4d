"""Llama-2-7B's shapes (every dimension real, 2 of its 32 layers; random weights) writing one caption
through the caption stage's ``transformers`` engine."""

import json

import pytest
from realsize_meter import measured, safetensors_params

from synclr_ray.captions.postprocess import STATUSES
from synclr_ray.captions.stage import CaptionStage, prompt_dataset
from synclr_ray.config import load_config
from synclr_ray.realsize.llm import llama2_7b_path

pytestmark = pytest.mark.realsize


def test_llama2_7b_shapes_write_one_caption(ray_cluster, capsys):
    model = llama2_7b_path(num_layers=2)
    config = json.loads((model / "config.json").read_text())
    shape = (config["vocab_size"], config["hidden_size"], config["intermediate_size"], config["num_attention_heads"])
    assert shape == (32000, 4096, 11008, 32) and config["num_hidden_layers"] == 2
    cfg = load_config("paper-vitb16", [f"captions.model={model}", "captions.engine=transformers",
                                       "captions.num_gpus=0", "captions.num_cpus=2", "captions.batch_size=1",
                                       "captions.pool.max_size=1", "captions.max_new_tokens=32",
                                       "captions.backgrounds=generic", "ray.generation_label=null",
                                       "ray.progress_bars=false"])  # fmt: skip
    with measured("captions: Llama-2-7B shapes, 2 layers, 1 caption", safetensors_params(model), capsys):
        rows = CaptionStage(cfg).marked(prompt_dataset(cfg, 0, 1)).take_all()

    assert [row["index"] for row in rows] == [0]
    assert isinstance(rows[0]["caption"], str) and rows[0]["status"] in STATUSES  # random weights: any text
