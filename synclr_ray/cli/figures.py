"""``synclr figures``: a run root's results as PNG figures under ROOT/figures."""

from synclr_ray.cli.app import RootOption, app


@app.command("figures")
def figures(root: RootOption) -> None:
    """Draw ROOT/figures/training.png (loss, lr, throughput per step), throughput.png (per stage, from
    ROOT/pipeline.json) and probe.png (from ROOT/eval/probe.json), for whichever of their inputs exist."""
    from synclr_ray.figures import write_run_figures

    written = write_run_figures(root)
    if not written:
        raise FileNotFoundError(
            f"nothing to draw under {root}: run pretrain, pipeline or probe --out ROOT/eval/probe.json"
        )
    print("\n".join(written))
