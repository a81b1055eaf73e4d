"""builtin://tiny-llama: loads like a hub Llama and, prompted by the caption stage, names the toy concepts."""

import hashlib
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from synclr_ray import storage
from synclr_ray.captions.engines.transformers import TransformersGenerator
from synclr_ray.captions.postprocess import clean
from synclr_ray.captions.stage import prompt_planner
from synclr_ray.config import load_config
from synclr_ray.toyworld.language import named_attributes
from synclr_ray.toyworld.llm import build


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_loads_like_a_hub_llama_with_a_head_size_vllm_supports():
    path = storage.model_source("builtin://tiny-llama")
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == "LlamaForCausalLM" and (Path(path) / "model.safetensors").exists()
    assert model.config.hidden_size // model.config.num_attention_heads == 32
    text = "A small red circle on a sandy beach.\n"
    ids = tokenizer(text).input_ids
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_its_captions_of_the_caption_stage_prompts_name_the_concept():
    cfg = load_config("tiny")
    rows = [prompt_planner(cfg, None).plan(i) for i in range(48)]
    texts = TransformersGenerator(cfg.captions).complete([row["prompt"] for row in rows], seed=0)
    named = [named_attributes(clean(text)) for text in texts]
    hits = [
        (n.get("colour"), n.get("shape")) == tuple(row["concept"].split()) for n, row in zip(named, rows, strict=True)
    ]
    assert sum(hits) >= 0.85 * len(rows), list(zip([row["concept"] for row in rows], texts, strict=True))


def test_the_build_is_deterministic(tmp_path):
    build(str(tmp_path / "a"), steps=3)
    build(str(tmp_path / "b"), steps=3)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
