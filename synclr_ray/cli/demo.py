"""``synclr demo``: the embedded default end to end on a local Ray cluster, with a final summary."""

from synclr_ray.cli.app import (
    AllowChangeOption,
    RootConfigOption,
    RootOption,
    SetOption,
    TakeOverOption,
    app,
    resolve_root_config,
)
from synclr_ray.cli.pipeline import print_pipeline_report

# Sized so the whole demo fits in minutes on 2 CPU cores; `--set` overrides any of it.
# 16 captions a step, so that captions of one colour meet in a batch and only the shape tells them apart:
# at 4 captions x 300 steps (the same time) the toy-world shape probe gained nothing over random init.
DEMO_SETTINGS = (
    "pipeline.write_through=true",
    "train.batch_captions=16",
    "train.steps=100",
    "train.checkpoint_every=50",
)


def print_summary(summary: dict, root: str) -> None:
    """What was produced where, with throughputs."""
    print_pipeline_report(summary["pipeline"])
    for dataset, models in summary["probes"].items():
        numbers = {m: (100 * r["linear"]["top1"], 100 * r["knn"]["top1"]) for m, r in models.items()}
        print(f"  probe {dataset}: linear {numbers['encoder'][0]:.1f}% (random init {numbers['baseline'][0]:.1f}%), "
              f"kNN {numbers['encoder'][1]:.1f}% (random init {numbers['baseline'][1]:.1f}%)")  # fmt: skip
    print(
        "  (toyworld shape: the shape of held-out renders across colours, sizes, positions and rotations;\n"
        "   only the captions tie images of one shape together, so a gain over the random-init encoder is what\n"
        "   training on generated images taught. digits: real handwriting, far from the toy world.)"
    )
    http = summary["serve"]
    print(f"  serve: POST {http['url']} -> dim {http['dim']}, first values {[round(v, 3) for v in http['head']]}"
          f" in {http['latency_s']:.2f} s")  # fmt: skip
    print(f"  probe results: {summary['probe_dir']}")
    for figure in summary["figures"]:
        print(f"  figure: {figure}")
    print(f"  everything: {root} (_config.yaml next to each output; demo.json holds this summary)")


@app.command("demo")
def demo(
    root: RootOption = "runs/demo",
    config: RootConfigOption = None,
    allow_change: AllowChangeOption = None,
    overrides: SetOption = None,
    take_over_stale_lease: TakeOverOption = False,
) -> None:
    """Stream tiny LLM -> tiny SD -> tiny ViT on the toy world, export, probe (toy shapes, digits), serve, draw."""
    from synclr_ray.demo import run_demo

    cfg = resolve_root_config(root, config, [*DEMO_SETTINGS, *(overrides or [])], allow_change, join_ray=True)
    print_summary(run_demo(cfg, root, take_over_stale_lease), root)
