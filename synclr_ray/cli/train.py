"""``synclr pretrain`` (stage 3): Ray Train pretraining on the image rows, then the encoder export."""

from typing import Annotated

import typer

from synclr_ray.cli.app import (
    AllowChangeOption,
    RootConfigOption,
    RootOption,
    SetOption,
    StepsOption,
    TakeOverOption,
    app,
    resolve_root_config,
)


@app.command("pretrain")
def pretrain(
    root: RootOption,
    images: Annotated[
        str | None,
        typer.Option("--images", help="Folder of committed image rows, local or s3:// (default ROOT/images)."),
    ] = None,
    steps: StepsOption = None,
    config: RootConfigOption = None,
    allow_change: AllowChangeOption = None,
    overrides: SetOption = None,
    take_over_stale_lease: TakeOverOption = False,
) -> None:
    """Pretrain into ROOT/train (resumes from its latest checkpoint) and export the teacher encoder to ROOT/export."""
    from synclr_ray.train.stage import run_pretrain

    cfg = resolve_root_config(root, config, overrides, allow_change, join_ray=True)
    out = run_pretrain(cfg, root, images, steps, take_over_stale_lease=take_over_stale_lease)
    print(f"trained to step {out['step']} (checkpoints in {out['train']}); encoder exported to {out['export']}")
    print(
        f"skipped: {out['skipped_steps']} steps with a non-finite loss, {out['bad_records']} bad records (undecodable images)"
    )
