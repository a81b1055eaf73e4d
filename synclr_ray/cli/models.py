"""``synclr models``: build the built-in stand-in models and the toy world's data into this node's cache."""

from typing import Annotated

import typer

from synclr_ray.cli.app import app


@app.command("models")
def models(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Artefacts to build (default: all of them: tiny-llama tiny-sd15 toyworld)."),
    ] = None,
    processes: Annotated[int, typer.Option("--processes", "-p", min=1, help="Artefacts built at once.")] = 2,
) -> None:
    """Build each builtin:// artefact once per machine (a rerun finds them built); prints where they are."""
    from synclr_ray.builtin import BUILDERS, SCHEME, build_all

    for name, path in build_all(names or list(BUILDERS), processes).items():
        print(f"{SCHEME}{name}: {path}")
