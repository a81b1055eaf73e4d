"""A tiny Llama-architecture causal LM with its own BPE tokenizer, built once per node.

It is saved in Hugging Face format, so the caption stage loads it through the same
``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained`` path as ``meta-llama/Llama-2-7b-hf``.
The build is deterministic: a byte-level BPE trained on our prompt text and concept names,
random Llama weights, then a short fit on in-context prompts made from our example pools so
that completions read like one-line captions.
"""

import random
import shutil
import time
import uuid
from pathlib import Path

import torch
from filelock import FileLock
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from synclr_ray import storage
from synclr_ray.captions.pools import POOLS, SEPARATOR, load_pool
from synclr_ray.captions.prompts import BACKGROUNDS_INSTRUCTION, INSTRUCTIONS, NUM_EXAMPLES, format_prompt

VERSION = "v2"  # bump when the recipe below changes, so caches rebuild
VOCAB_SIZE = 2048
FIT_STEPS = 200
FIT_BATCH = 16


def _pool_instruction(pool: str) -> str:
    if pool == "backgrounds":
        return BACKGROUNDS_INSTRUCTION
    template, group = (
        ("c", pool.removeprefix("c_")) if pool in ("c_object", "c_place", "c_texture") else (pool, "object")
    )
    return INSTRUCTIONS[(template, group)]


def _fit_texts(rng: random.Random, count: int) -> list[str]:
    """In-context prompts from our pools, each completed by a held-out example and a newline."""
    texts = []
    for _ in range(count):
        pool_name = rng.choice(POOLS)
        pool = load_pool(pool_name)
        *examples, target = rng.sample(pool, NUM_EXAMPLES + 1)
        query, completion = target.split(SEPARATOR, 1)
        texts.append(format_prompt(_pool_instruction(pool_name), examples, query) + " " + completion + "\n")
    return texts


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


def _fit(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> None:
    """A brief causal-LM fit; padding positions are masked out of the loss."""
    tokenizer.pad_token = tokenizer.eos_token
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for step in range(FIT_STEPS):
        chunk = texts[step * FIT_BATCH % len(texts) :][:FIT_BATCH]
        enc = tokenizer(chunk, return_tensors="pt", padding=True)
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()
    tokenizer.pad_token = None


def build_tiny_llm(out_dir: Path) -> None:
    """Build the tiny LM and its tokenizer into ``out_dir`` (deterministic for a given torch version)."""
    rng = random.Random(0)
    fit_texts = _fit_texts(rng, FIT_STEPS * FIT_BATCH // 4)
    tokenizer = _train_tokenizer(fit_texts)
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
        _fit(model, tokenizer, fit_texts)
    finally:
        torch.set_num_threads(threads)
    model.generation_config.pad_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def tiny_llm_path() -> Path:
    """The tiny LM's directory in this node's cache, building it once (file lock + atomic rename)."""
    target = storage.cache_dir() / f"tiny-llm-{VERSION}"
    if (target / "config.json").exists():
        return target
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").exists():
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            start = time.perf_counter()
            try:
                build_tiny_llm(tmp)
                tmp.rename(target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"built tiny LLM in {time.perf_counter() - start:.1f}s at {target}")
    return target
