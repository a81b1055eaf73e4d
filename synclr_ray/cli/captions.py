"""``synclr captions``: stage 1, resumable caption synthesis under ROOT/captions."""

import json
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


@app.command("captions")
def captions(
    root: RootOption,
    config: RootConfigOption = None,
    allow_change: AllowChangeOption = None,
    num_captions: Annotated[
        int | None,
        typer.Option("--num-captions", "-n", min=1, help="Unique captions wanted (default: captions.num_captions)."),
    ] = None,
    overrides: SetOption = None,
    take_over_stale_lease: TakeOverOption = False,
) -> None:
    """Write exactly N unique captions under ROOT/captions; a rerun resumes what is missing."""
    from synclr_ray.captions.stage import run_captions

    cfg = resolve_root_config(root, config, overrides, allow_change, join_ray=True)
    manifest = run_captions(cfg, root, num_captions, take_over_stale_lease=take_over_stale_lease)
    summary = {
        k: manifest[k] for k in ("num_captions", "prompts", "filtered", "duplicates", "by_template", "length_words")
    }
    print(json.dumps(summary, indent=1))
