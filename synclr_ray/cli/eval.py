"""``synclr probe`` and ``synclr pca``: evaluate an exported encoder."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, app, resolve_config

EncoderOption = Annotated[str, typer.Option("--encoder", "-e", help="Encoder export directory, local or object store.")]


@app.command("probe")
def probe(
    encoder: EncoderOption,
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help="`digits` (built in) or an ImageFolder with train/ and val/ or test/, local or s3://.",
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out", "-o", help="Also write the results (config, dataset, encoder, numbers) to this JSON file."
        ),
    ] = None,
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Linear probe and kNN accuracy of an encoder's frozen CLS features, next to a random-init baseline."""
    from synclr_ray.eval.probe import format_report, run_probe

    report = run_probe(encoder, dataset, resolve_config(config, overrides, join_ray=True), out)
    print(format_report(report))


@app.command("pca")
def pca(
    encoder: EncoderOption,
    out: Annotated[str, typer.Option("--out", "-o", help="PNG file to write, local or object store.")],
    files: Annotated[list[str], typer.Argument(help="Image files, local or object store (e.g. a shell glob).")],
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """Figure 5 of the paper: PCA of patch features of the images, as a foreground mask and RGB."""
    from synclr_ray.eval.pca import write_pca_figure

    cfg = resolve_config(config, overrides)
    print(write_pca_figure(encoder, files, out, cfg.eval))
