"""``synclr images`` (stage 2) and ``synclr show`` (the samples grid)."""

from typing import Annotated

import typer

from synclr_ray.cli.app import (
    AllowChangeOption,
    RootConfigOption,
    RootOption,
    SetOption,
    TakeOverOption,
    app,
    resolve_root_config,
)


@app.command("images")
def images(
    root: RootOption,
    captions: Annotated[
        str | None,
        typer.Option("--captions", help="Folder of committed caption rows, local or s3:// (default ROOT/captions)."),
    ] = None,
    config: RootConfigOption = None,
    allow_change: AllowChangeOption = None,
    overrides: SetOption = None,
    take_over_stale_lease: TakeOverOption = False,
) -> None:
    """Draw images_per_caption images for every caption into ROOT/images (resumable: reruns draw only what is missing)."""
    from synclr_ray.images.stage import run_images

    manifest = run_images(
        resolve_root_config(root, config, overrides, allow_change, join_ray=True),
        root,
        captions,
        take_over_stale_lease=take_over_stale_lease,
    )
    print(
        f"{manifest['rows']} captions, {manifest['images']} images in {manifest['units_done']}/{manifest['units']} shards"
        f" under {root}; {manifest['errors']} captions failed (see images/_errors/)"
    )


@app.command("show")
def show(
    root: RootOption,
    num_captions: Annotated[
        int, typer.Option("--num-captions", "-n", min=1, help="Captions to show, one per grid row.")
    ] = 8,
    images: Annotated[
        str | None,
        typer.Option("--images", help="Committed image rows to show (default ROOT/images; e.g. ROOT/stream)."),
    ] = None,
) -> None:
    """Write ROOT/figures/samples.png: captions with their images, the caption under each row."""
    from synclr_ray.images.grid import write_samples_grid

    print(write_samples_grid(root, num_captions, images_uri=images))
