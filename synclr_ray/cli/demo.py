"""``synclr demo``: the embedded default end to end on a local Ray cluster, with a short report."""

from typing import Annotated

import typer

from synclr_ray.cli.app import RootOption, SetOption, app, resolve_config

SAMPLES = 8


def run_demo(root: str, config: str = "tiny", overrides: list[str] | None = None) -> None:
    """Caption stage on the tiny preset: generate, then print a report and sample captions."""
    from synclr_ray.captions.stage import read_captions, run_captions
    from synclr_ray.cluster import init_ray

    cfg = resolve_config(config, overrides)
    init_ray(cfg.ray)
    m = run_captions(cfg, root)
    print(f"\ncaptions: {m['num_captions']} unique from {m['prompts']} prompts ({m['rounds']} rounds), model {m['model']}")
    print(f"  dropped: {m['filtered']}, duplicates {m['duplicates']}, surplus {m['surplus']}")
    print(f"  templates: {m['by_template']}")
    print(f"  sources: {m['by_source']}")
    print(f"  words per caption: {m['length_words']}")
    print(f"  output: {root}/captions (manifest.json, config.yaml)\n\nsample captions:")
    for row in read_captions(root).take(SAMPLES):
        print(f"  [{row['concept_source']}/{row['template']}] {row['concept']}: {row['caption']}")


@app.command("demo")
def demo(
    root: RootOption = "runs/demo",
    config: Annotated[str, typer.Option("--config", "-c", help="Preset or YAML file to demo.")] = "tiny",
    overrides: SetOption = None,
) -> None:
    """Run the pipeline on the embedded tiny models locally and print a report with samples."""
    run_demo(root, config, overrides)
