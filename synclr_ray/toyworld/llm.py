"""The tiny Llama (``builtin://tiny-llama``): Llama's architecture with its own BPE tokenizer, fitted so
that its captions of toy-world concepts name them.

Saved in Hugging Face format, so the caption stage loads it through the same
``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained`` path as ``meta-llama/Llama-2-7b-hf``.
The build is deterministic: a byte-level BPE trained on the fitting text, random Llama weights,
then a short causal-LM fit on the caption stage's own in-context prompts (instruction, 3 examples
from our pools, ``concept =>``) completed by a caption. Most queries are toy concepts
(``red circle`` or ``red circle, grey wall``) completed by a toy caption of a matching scene;
the rest are held-out pool examples, so real concepts still get caption-like lines.
"""

import random

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from synclr_ray.captions.pools import POOLS, SEPARATOR, load_pool, pool_name
from synclr_ray.captions.prompts import BACKGROUNDS_INSTRUCTION, INSTRUCTIONS, NUM_EXAMPLES, format_prompt
from synclr_ray.toyworld.catalog import world_scene
from synclr_ray.toyworld.language import describe

VERSION = "v2"  # bump when the recipe below changes, so caches rebuild; v1: scenes of the whole catalog
VOCAB_SIZE = 2048
FIT_STEPS = 600  # at 300 the shape word was wrong in half the captions of the one-object world; 600: 48 of 48
FIT_BATCH = 16
TOY_SHARE = 0.75  # of the fitting texts; the rest keep the tiny Llama writing captions of real concepts
UNSAID = 0.3  # chance that a toy caption leaves out its size, texture or (for `c` prompts) background


def _pool_instruction(pool: str) -> str:
    if pool == "backgrounds":
        return BACKGROUNDS_INSTRUCTION
    template, group = (
        ("c", pool.removeprefix("c_")) if pool in ("c_object", "c_place", "c_texture") else (pool, "object")
    )
    return INSTRUCTIONS[(template, group)]


def _pool_text(rng: random.Random) -> str:
    """An in-context prompt from one of our pools, completed by a held-out example of the same pool."""
    pool_name_ = rng.choice(POOLS)
    *examples, target = rng.sample(load_pool(pool_name_), NUM_EXAMPLES + 1)
    query, completion = target.split(SEPARATOR, 1)
    return format_prompt(_pool_instruction(pool_name_), examples, query) + " " + completion + "\n"


def _toy_text(rng: random.Random, scenes: np.random.Generator) -> str:
    """A toy concept prompt (template ``c`` or ``c_bg``, as the caption stage plans it) completed by a toy caption."""
    template = rng.choice(("c", "c_bg"))
    scene = world_scene(scenes)
    unsaid = [a for a in ("size", "texture") if rng.random() < UNSAID]
    if template == "c_bg":
        query = f"{scene.concept}, {scene.background}"
    else:
        query = scene.concept
        unsaid += ["background"] if rng.random() < UNSAID else []
    pool = load_pool(pool_name(template, "object"))
    examples = rng.sample(pool, NUM_EXAMPLES)
    return (
        format_prompt(INSTRUCTIONS[(template, "object")], examples, query)
        + " "
        + describe(scene, scenes, unsaid)
        + "\n"
    )


def fit_texts(count: int, seed: int = 0) -> list[str]:
    """The fitting text: ``count`` completed prompts, toy and pool ones mixed."""
    rng, scenes = random.Random(seed), np.random.default_rng(seed)
    return [_toy_text(rng, scenes) if rng.random() < TOY_SHARE else _pool_text(rng) for _ in range(count)]


def _train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _fit(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, texts: list[str], steps: int) -> None:
    """A brief causal-LM fit; padding positions are masked out of the loss."""
    tokenizer.pad_token = tokenizer.eos_token
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for step in range(steps):
        chunk = texts[step * FIT_BATCH % len(texts) :][:FIT_BATCH]
        enc = tokenizer(chunk, return_tensors="pt", padding=True)
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()
    tokenizer.pad_token = None


def build(out_dir: str, steps: int = FIT_STEPS) -> None:
    """Build the tiny LM and its tokenizer into ``out_dir`` (deterministic for a given torch version)."""
    texts = fit_texts(steps * FIT_BATCH)
    tokenizer = _train_tokenizer(texts)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,  # head size 32: one that vLLM's CPU attention supports (32/64/80/96/112/128/256)
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ops this small run faster on one thread than two contending ones
    try:
        _fit(model, tokenizer, texts, steps)
    finally:
        torch.set_num_threads(threads)
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
