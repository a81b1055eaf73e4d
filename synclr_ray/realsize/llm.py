"""Llama-2-7B's architecture at full width with random weights; only the layer count may be cut."""

import json
from functools import partial
from pathlib import Path

import torch

from synclr_ray.realsize import build_once, config_path

VERSION = "v1"  # bump when the build below changes, so caches rebuild


def llama2_7b_config(num_layers: int | None = None):
    """Llama-2-7B's ``LlamaConfig`` (vocabulary 32,000, hidden 4,096, MLP 11,008, 32 heads), ``num_layers`` deep."""
    from transformers import LlamaConfig

    values = json.loads(config_path("llama-2-7b.json").read_text())
    if num_layers is not None:
        values["num_hidden_layers"] = num_layers
    return LlamaConfig(**values)


def build_llama2_7b(out_dir: Path, num_layers: int) -> None:
    """Save a random Llama-2-7B-shaped model (float16 on disk, like the hub's) with the tiny Llama's tokenizer."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    from synclr_ray.storage import model_source

    # The tiny tokenizer numbers <unk>, <s>, </s> 0, 1, 2 like Llama-2's, and all its ids are in range.
    tokenizer = AutoTokenizer.from_pretrained(model_source("builtin://tiny-llama"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama2_7b_config(num_layers)).to(torch.float16)
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def llama2_7b_path(num_layers: int = 2) -> Path:
    """The model's directory in this node's cache, built on first use."""
    name = f"realsize-llama-2-7b-{num_layers}layers-{VERSION}"
    return build_once(name, "config.json", partial(build_llama2_7b, num_layers=num_layers))
