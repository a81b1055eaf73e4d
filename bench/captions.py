"""Caption synthesis throughput side by side, on the tiny LLM:

(a) the Ray Data stage (`marked_dataset`: planning, the actor pool's start-up and model load,
    batched generation, post-processing) on a local Ray cluster, end to end and in steady state
    (from its first output block on, i.e. without the one-off pool start-up that a long run amortises);
(b) the same `TransformersGenerator` in this process with the same batch size and as many torch
    threads as one actor gets CPUs (the limit for one process);
(c) the same with batch size 1.

    python bench/captions.py [--prompts 4096] [--config tiny] [--set captions.batch_size=32 ...]

Prints captions/s and the ratios (a)/(b) (target >= 0.7; end to end and steady state) and (b)/(c) (target >= 3).
(b) runs before and after (a) and the mean is used, since other load on the machine drifts.
"""

import argparse
import logging
import tempfile
import time

import ray
import torch
from ray.data import DataContext

from synclr_ray.captions.engines.transformers import TransformersGenerator
from synclr_ray.captions.stage import marked_dataset, prompt_dataset
from synclr_ray.cluster import init_ray
from synclr_ray.config import Config, load_config
from synclr_ray.tiny.llm import tiny_llm_path


def in_process(cfg: Config, prompts: list[dict], batch_size: int) -> float:
    """Captions/s of one generator in this process (model load included, like an actor's)."""
    start = time.perf_counter()
    generator = TransformersGenerator(cfg.captions)
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        generator.complete([p["prompt"] for p in chunk], chunk[0]["seed"])
    return len(prompts) / (time.perf_counter() - start)


def ray_stage(cfg: Config, count: int) -> tuple[float, float]:
    """Captions/s of the Ray Data stage: end to end (start-up included) and from its first output block on."""
    start = time.perf_counter()
    first_at, first_rows = None, 0
    for batch in marked_dataset(cfg, 0, count).iter_batches(batch_size=None, batch_format="pyarrow"):
        if first_at is None:
            first_at, first_rows = time.perf_counter(), batch.num_rows
    end = time.perf_counter()
    steady = (count - first_rows) / (end - first_at) if count > first_rows else float("nan")
    return count / (end - start), steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4096)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config, args.overrides)
    tiny_llm_path()  # build outside every timing
    torch.set_num_threads(max(1, int(cfg.captions.num_cpus)))
    init_ray(cfg.ray, _temp_dir=tempfile.mkdtemp(prefix="ray-bench-captions-"), log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False
    prompts = prompt_dataset(cfg, 0, args.prompts).take_all()
    batch = cfg.captions.batch_size

    b_before = in_process(cfg, prompts, batch)
    a, a_steady = ray_stage(cfg, args.prompts)
    b_after = in_process(cfg, prompts, batch)
    b = (b_before + b_after) / 2
    c = in_process(cfg, prompts[: max(batch, args.prompts // 4)], 1)
    ray.shutdown()

    print(f"prompts: {args.prompts}, batch size: {batch}, torch threads: {torch.get_num_threads()}")
    print(f"(a) Ray Data stage:            {a:7.2f} captions/s end to end, {a_steady:.2f} in steady state")
    print(f"(b) one process, batch {batch:<4d}:   {b:7.2f} captions/s  (before {b_before:.2f}, after {b_after:.2f})")
    print(f"(c) one process, batch 1:      {c:7.2f} captions/s")
    print(f"(a)/(b) = {a / b:.2f} end to end, {a_steady / b:.2f} in steady state  (target >= 0.7)")
    print(f"(b)/(c) = {b / c:.2f}  (target >= 3)")


if __name__ == "__main__":
    main()
