"""``synclr pretrain`` (stage 3): Ray Train pretraining on the image rows, then the encoder export."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, RootOption, SetOption, StepsOption, app, resolve_config


@app.command("pretrain")
def pretrain(
    root: RootOption,
    images: Annotated[
        str | None,
        typer.Option("--images", help="Folder of committed image rows, local or s3:// (default ROOT/images)."),
    ] = None,
    steps: StepsOption = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Pretrain into ROOT/train (resumes from its latest checkpoint) and export the teacher encoder to ROOT/export."""
    from synclr_ray.train.stage import run_pretrain

    out = run_pretrain(resolve_config(config, overrides, join_ray=True), root, images, steps)
    print(f"trained to step {out['step']} (checkpoints in {out['train']}); encoder exported to {out['export']}")
