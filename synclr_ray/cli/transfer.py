"""``synclr transfer``: the linear transfer suite (paper Table 6) of an encoder."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, app, resolve_config
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

    table = run_transfer(encoder, resolve_config(config, overrides, join_ray=True), out, compare)
    print(to_markdown(table), end="")
    print(f"written: {out}/{TABLE_MD} (.json, .png)")
