"""Does the embedded default show the paper's claim? Two measurements on the toy world.

(1) ``--generators``: the fitted tiny SD 1.5 draws what its prompt says. A judge (a small CNN
fitted on renders only) names the shape, colour and size of images the image stage's pipeline
draws for toy captions; printed: how often it agrees with the prompt, next to chance.
(2) ``--seeds 0 1 2``: the demo's streaming run (tiny Llama -> tiny SD -> SynCLR, `synclr demo`'s
settings) once per seed, then the toy-world probes of the export next to a random-init encoder
of the same architecture; printed: linear-probe and kNN accuracy per seed and their mean gain.

    .venv/bin/python bench/toyworld.py --generators [--prompts 240]
    .venv/bin/python bench/toyworld.py --seeds 0 1 2 [--attributes shape colour] [--set key=value ...]
"""

import argparse
import tempfile
import time

import numpy as np
import ray
import torch

from synclr_ray.config import load_config
from synclr_ray.images.model import load_pipeline
from synclr_ray.toyworld.catalog import ATTRIBUTES, WORLD_ATTRIBUTES, world_scene
from synclr_ray.toyworld.judge import JUDGED, fit_judge
from synclr_ray.toyworld.language import describe, named_attributes


def generators(prompts: int, batch: int = 24) -> None:
    """Judge the tiny SD's samples of ``prompts`` random captions of the toy world against what the captions name."""
    cfg = load_config("tiny").images
    rng = np.random.default_rng(7)
    captions = [describe(world_scene(rng), rng) for _ in range(prompts)]
    started = time.perf_counter()
    judge = fit_judge()
    print(f"judge fitted on renders in {time.perf_counter() - started:.0f} s")
    pipe = load_pipeline(cfg, "cpu")
    verdicts = []
    with torch.inference_mode():
        for start in range(0, prompts, batch):
            chunk = captions[start : start + batch]
            seeds = [torch.Generator().manual_seed(start + i) for i in range(len(chunk))]
            images = pipe(chunk, generator=seeds, guidance_scale=cfg.guidance_scale, height=cfg.resolution,
                          width=cfg.resolution, num_inference_steps=cfg.num_inference_steps).images  # fmt: skip
            verdicts += judge.verdicts(images)
    named = [named_attributes(c) for c in captions]
    print(f"\n{prompts} toy captions, {cfg.scheduler} {cfg.num_inference_steps} steps, guidance {cfg.guidance_scale}")
    print(f"{'attribute':12}{'prompted':>10}{'chance':>9}{'ratio':>8}")
    for attribute in JUDGED:
        rate = float(np.mean([v[attribute] == n[attribute] for v, n in zip(verdicts, named, strict=True)]))
        chance = 1 / len(ATTRIBUTES[attribute])
        print(f"{attribute:12}{100 * rate:9.1f}%{100 * chance:8.1f}%{rate / chance:8.2f}")


def seeds_run(seeds: list[int], attributes: list[str], overrides: list[str]) -> None:
    """The demo's streaming run per seed, then the toy-world probes of its export vs a random-init encoder."""
    from synclr_ray.cli.demo import DEMO_SETTINGS
    from synclr_ray.cluster import init_ray
    from synclr_ray.eval.probe import run_probe
    from synclr_ray.pipeline import run_pipeline

    gains: dict[str, list[tuple[float, float]]] = {a: [] for a in attributes}
    for seed in seeds:
        cfg = load_config("tiny", [*DEMO_SETTINGS, "pipeline.write_through=false", f"seed={seed}", *overrides])
        with tempfile.TemporaryDirectory() as root:
            # As `synclr demo` does: more logical CPUs than cores, so that the caption and image pools
            # still get slots once Ray Train has reserved its worker.
            init_ray(cfg.ray, _temp_dir=f"{root}/ray", log_to_driver=False)
            started = time.perf_counter()
            report = run_pipeline(cfg, root)
            print(f"seed {seed}: trained {report['step']} steps in {time.perf_counter() - started:.0f} s")
            for attribute in attributes:
                models = run_probe(report["export"], f"builtin://toyworld/probe/{attribute}", cfg)["models"]
                numbers = {m: (100 * r["linear"]["top1"], 100 * r["knn"]["top1"]) for m, r in models.items()}
                gains[attribute].append(
                    (numbers["encoder"][0] - numbers["baseline"][0], numbers["encoder"][1] - numbers["baseline"][1])
                )
                print(f"  {attribute:10} linear {numbers['encoder'][0]:5.1f}% vs random init {numbers['baseline'][0]:5.1f}%"
                      f"   kNN {numbers['encoder'][1]:5.1f}% vs {numbers['baseline'][1]:5.1f}%")  # fmt: skip
            ray.shutdown()
    for attribute, per_seed in gains.items():
        linear, knn = np.mean(per_seed, axis=0)
        print(
            f"{attribute}: mean gain over random init, {len(seeds)} seeds: linear {linear:+.1f} points, kNN {knn:+.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", action="store_true", help="Judge the tiny SD's samples against prompts.")
    parser.add_argument("--prompts", type=int, default=240)
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="Demo runs to probe, one per seed.")
    parser.add_argument("--attributes", nargs="+", default=["shape", "colour"], choices=WORLD_ATTRIBUTES)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Dotted config override.")
    args = parser.parse_args()
    if not args.generators and not args.seeds:
        parser.error("nothing to measure: pass --generators and/or --seeds")
    if args.generators:
        generators(args.prompts)
    if args.seeds:
        seeds_run(args.seeds, args.attributes, args.overrides)


if __name__ == "__main__":
    main()
