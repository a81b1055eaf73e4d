"""``synclr demo``: the embedded default end to end on a local Ray cluster, with a final summary."""

from typing import Annotated

import typer

from synclr_ray.cli.app import RootOption, SetOption, TakeOverOption, app, resolve_config
from synclr_ray.cli.pipeline import print_pipeline_report

# Sized so the whole demo fits in minutes on 2 CPU cores; `--set` overrides any of it.
DEMO_SETTINGS = (
    "pipeline.write_through=true",
    "pipeline.epochs=20",  # 20 x 64 prompts: fresh captions and images for every one of the 300 steps
    "captions.backgrounds=generic",
    "train.batch_captions=4",
    "train.steps=300",
    "train.checkpoint_every=100",
)


def print_summary(summary: dict, root: str) -> None:
    """What was produced where, with throughputs."""
    print_pipeline_report(summary["pipeline"])
    for model, numbers in summary["probe"].items():
        print(
            f"  probe ({model}): linear {100 * numbers['linear']['top1']:.1f}%, kNN {100 * numbers['knn']['top1']:.1f}%"
        )
    http = summary["serve"]
    print(f"  serve: POST {http['url']} -> dim {http['dim']}, first values {[round(v, 3) for v in http['head']]}"
          f" in {http['latency_s']:.2f} s")  # fmt: skip
    print(f"  probe results: {summary['probe_json']}")
    for figure in summary["figures"]:
        print(f"  figure: {figure}")
    print(f"  everything: {root} (config.yaml next to each output; demo.json holds this summary)")


@app.command("demo")
def demo(
    root: RootOption = "runs/demo",
    config: Annotated[str, typer.Option("--config", "-c", help="Preset or YAML file to demo.")] = "tiny",
    overrides: SetOption = None,
    take_over_stale_lease: TakeOverOption = False,
) -> None:
    """Stream tiny LLM -> tiny SD -> tiny ViT, export, probe on digits, serve one request, draw the figures."""
    from synclr_ray.demo import run_demo

    cfg = resolve_config(config, [*DEMO_SETTINGS, *(overrides or [])])
    print_summary(run_demo(cfg, root, take_over_stale_lease), root)
