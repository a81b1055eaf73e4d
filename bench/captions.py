"""Caption synthesis throughput side by side, on the tiny LLM:

(a) the Ray Data stage (`CaptionStage.marked`: planning, the actor pool's start-up and model load,
    batched generation, post-processing) on a local Ray cluster, end to end and in steady state
    (from its first output block on, i.e. without the one-off pool start-up that a long run amortises),
    once per engine in ``--engines``, on the same prompts: captions/s and output tokens/s (tokens of
    the kept caption text, counted with the model's own tokenizer for every engine);
(b) the same `TransformersGenerator` in this process with the same batch size and as many torch
    threads as one actor gets CPUs (the limit for one process);
(c) the same with batch size 1.

    python bench/captions.py [--prompts 4096] [--engines transformers,vllm] [--config tiny] [--set ...]

The ``vllm`` engine needs vLLM: run from .venv-vllm (`make install-vllm`), where it is the default too.
Prints the rates and the ratios (a)/(b) (target >= 0.7; end to end and steady state), (b)/(c)
(target >= 3) and vllm/transformers. (b) runs before and after (a) and the mean is used, since other
load on the machine drifts.
"""

import argparse
import importlib.util
import logging
import tempfile
import time

import ray
import torch
from ray.data import DataContext
from transformers import AutoTokenizer

from synclr_ray import storage
from synclr_ray.captions.engines.transformers import TransformersGenerator
from synclr_ray.captions.stage import CaptionStage, prompt_dataset
from synclr_ray.cluster import init_ray
from synclr_ray.config import Config, load_config


def in_process(cfg: Config, prompts: list[dict], batch_size: int) -> float:
    """Captions/s of one generator in this process (model load included, like an actor's)."""
    start = time.perf_counter()
    generator = TransformersGenerator(cfg.captions)
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        generator.complete([p["prompt"] for p in chunk], chunk[0]["seed"])
    return len(prompts) / (time.perf_counter() - start)


def ray_stage(cfg: Config, count: int, tokenizer) -> dict[str, float]:
    """Captions/s and output tokens/s of the Ray Data stage: end to end (start-up included) and from its
    first output block on."""
    start = time.perf_counter()
    first_at, first_rows, first_tokens, tokens = None, 0, 0, 0
    for batch in (
        CaptionStage(cfg).marked(prompt_dataset(cfg, 0, count)).iter_batches(batch_size=None, batch_format="pyarrow")
    ):
        texts = batch.column("caption").to_pylist()
        tokens += sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False).input_ids)
        if first_at is None:
            first_at, first_rows, first_tokens = time.perf_counter(), batch.num_rows, tokens
    end = time.perf_counter()
    steady = end - first_at if count > first_rows else float("nan")
    return {
        "captions_per_s": count / (end - start),
        "tokens_per_s": tokens / (end - start),
        "steady_captions_per_s": (count - first_rows) / steady,
        "steady_tokens_per_s": (tokens - first_tokens) / steady,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4096)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    have_vllm = importlib.util.find_spec("vllm") is not None
    parser.add_argument("--engines", default="transformers,vllm" if have_vllm else "transformers",
                        help="Engines run through the stage on the same prompts (vllm needs .venv-vllm).")  # fmt: skip
    args = parser.parse_args()
    engines = args.engines.split(",")
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config, [*args.overrides, "captions.engine=transformers"])
    tokenizer = AutoTokenizer.from_pretrained(storage.model_source(cfg.captions.model))  # built outside every timing
    torch.set_num_threads(max(1, int(cfg.captions.num_cpus)))
    init_ray(cfg.ray, _temp_dir=tempfile.mkdtemp(prefix="ray-bench-captions-"), log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False
    prompts = prompt_dataset(cfg, 0, args.prompts).take_all()
    batch = cfg.captions.batch_size

    b_before = in_process(cfg, prompts, batch)
    stage = {e: ray_stage(load_config(args.config, [*args.overrides, f"captions.engine={e}"]), args.prompts, tokenizer)
             for e in engines}  # fmt: skip
    b_after = in_process(cfg, prompts, batch)
    b = (b_before + b_after) / 2
    c = in_process(cfg, prompts[: max(batch, args.prompts // 4)], 1)
    ray.shutdown()

    print(f"prompts: {args.prompts}, batch size: {batch}, torch threads: {torch.get_num_threads()}")
    for engine, r in stage.items():
        print(f"(a) Ray Data stage, {engine:<12} {r['captions_per_s']:7.2f} captions/s, {r['tokens_per_s']:8.1f} "
              f"tokens/s end to end; {r['steady_captions_per_s']:.2f} captions/s, {r['steady_tokens_per_s']:.1f} "
              "tokens/s in steady state")  # fmt: skip
    print(f"(b) one process, batch {batch:<4d}:   {b:7.2f} captions/s  (before {b_before:.2f}, after {b_after:.2f})")
    print(f"(c) one process, batch 1:      {c:7.2f} captions/s")
    if "transformers" in stage:
        a = stage["transformers"]
        print(f"(a)/(b) = {a['captions_per_s'] / b:.2f} end to end, {a['steady_captions_per_s'] / b:.2f} in steady "
              "state  (transformers; target >= 0.7)")  # fmt: skip
    print(f"(b)/(c) = {b / c:.2f}  (target >= 3)")
    if {"transformers", "vllm"} <= set(stage):
        v, t = stage["vllm"], stage["transformers"]
        print(f"vllm/transformers: {v['tokens_per_s'] / t['tokens_per_s']:.2f} output tokens/s end to end, "
              f"{v['steady_tokens_per_s'] / t['steady_tokens_per_s']:.2f} in steady state")  # fmt: skip


if __name__ == "__main__":
    main()
