"""The ``transformers`` engine: batched ``generate`` (left padding) in a Ray Data actor pool, CPU or GPU."""

import numpy as np
import torch
from ray.data import ActorPoolStrategy, Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from synclr_ray import storage
from synclr_ray.cluster import label_selector
from synclr_ray.config import Config
from synclr_ray.config.captions import CaptionsConfig
from synclr_ray.device import resolve

STOP = "\n"  # only the first line is kept, so generation stops there


class TransformersGenerator:
    """Loads the model once per actor; each call completes a batch of prompts."""

    def __init__(self, cfg: CaptionsConfig):
        path = storage.model_source(cfg.model)
        hf_logging.disable_progress_bar()  # a Ray actor's output is a log forwarded to the driver: no bars
        compute = resolve("bf16", gpus=cfg.num_gpus, cpu_precision="fp32")
        self.device = compute.device
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=compute.dtype).to(self.device).eval()
        self.sampling = dict(
            do_sample=cfg.temperature > 0,
            temperature=cfg.temperature if cfg.temperature > 0 else None,
            top_p=cfg.top_p if cfg.temperature > 0 else None,
            max_new_tokens=cfg.max_new_tokens,
            stop_strings=[STOP],
            pad_token_id=self.tokenizer.pad_token_id,
        )

    def complete(self, prompts: list[str], seed: int) -> list[str]:
        """Raw completions of ``prompts``; sampling is seeded so a batch is reproducible."""
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.model.generate(**enc, **self.sampling, tokenizer=self.tokenizer)
        return self.tokenizer.batch_decode(out[:, enc.input_ids.shape[1] :], skip_special_tokens=True)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = self.complete([str(p) for p in batch["prompt"]], int(batch["seed"][0]))
        batch["generated_text"] = np.array(texts, dtype=object)
        return batch


def generate_transformers(ds: Dataset, cfg: Config) -> Dataset:
    """Add ``generated_text`` with an autoscaling pool of `TransformersGenerator` actors."""
    c = cfg.captions
    return ds.map_batches(
        TransformersGenerator,
        fn_constructor_kwargs={"cfg": c},
        batch_size=c.batch_size,
        compute=ActorPoolStrategy(min_size=c.pool.min_size, max_size=c.pool.max_size),
        num_cpus=c.num_cpus,
        num_gpus=c.num_gpus,
        label_selector=label_selector(cfg.ray.generation_label),
    )
