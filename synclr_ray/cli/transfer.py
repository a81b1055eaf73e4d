"""``synclr transfer``: the linear transfer suite (paper Table 6) of an encoder."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, app, join_ray_for, resolve_config
from synclr_ray.cli.eval import EncoderOption


@app.command("transfer")
def transfer(
    encoder: EncoderOption,
    out: Annotated[str, typer.Option("--out", "-o", help="Folder for the table (.md, .json, .png), local or s3://.")],
    compare: Annotated[
        str | None,
        typer.Option(help="A second encoder side by side: an export directory or a timm model id with weights."),
    ] = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Linear probe of the encoder, its random-init baseline (and --compare) on every dataset of transfer.datasets."""
    from synclr_ray.eval.table import to_markdown
    from synclr_ray.eval.transfer import TABLE_MD, run_transfer

    cfg = resolve_config(config, overrides)
    cfg.transfer.uris()  # a dataset without a uri fails here, before Ray starts
    join_ray_for(cfg)
    table = run_transfer(encoder, cfg, out, compare)
    print(to_markdown(table), end="")
    print(f"written: {out}/{TABLE_MD} (.json, .png)")
