"""``synclr embed-dataset``: embed a whole image collection offline into Parquet shards."""

from typing import Annotated

import typer

from synclr_ray.cli.app import ConfigOption, SetOption, app, resolve_config
from synclr_ray.cli.eval import EncoderOption


@app.command("embed-dataset")
def embed_dataset(
    encoder: EncoderOption,
    input_uri: Annotated[
        str,
        typer.Option(
            "--input",
            help="A folder of images at any depth (e.g. an ImageFolder), or Parquet (a file or folder) with an "
            "`image` or `images` column; local or s3://.",
        ),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder of Parquet shards, local or s3://.")],
    config: ConfigOption = "tiny",
    overrides: SetOption = None,
) -> None:
    """CLS embeddings of every image into OUT/*.parquet (id, path, embedding) with a Ray Data actor pool (embed.*).

    Resumable: a rerun embeds only the shards that are missing.
    """
    from synclr_ray.embed.stage import run_embed_dataset

    manifest = run_embed_dataset(resolve_config(config, overrides, join_ray=True), encoder, input_uri, out)
    print(
        f"embedded {manifest['rows']} images into {manifest['units_done']} shards under {out}"
        + (f" ({manifest['errors']} undecodable, listed under {out}/_errors)" if manifest["errors"] else "")
    )
