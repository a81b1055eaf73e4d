"""The typer application and the options every stage command shares."""

from typing import Annotated

import typer

from synclr_ray.config import Config, load_config

app = typer.Typer(
    name="synclr",
    help="SynCLR on Ray: captions -> images -> pretraining -> export -> probe / serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigOption = Annotated[
    str,
    typer.Option(
        "--config", "-c", help="Preset name (tiny, paper-vitb16, paper-vitl14) or a YAML file, local or object store."
    ),
]
RootConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Preset name (tiny, paper-vitb16, paper-vitl14) or a YAML file, local or object store. "
        "Default: the run root's config (ROOT/config.yaml, written by the first command on the root), else tiny.",
    ),
]
AllowChangeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-change",
        help="Let this config field (dotted, e.g. train.optim.lr, or a whole section) differ from the root's "
        "config although a committed stage used it (repeatable).",
    ),
]
RootOption = Annotated[
    str, typer.Option("--root", "-r", help="Run root: a local directory or an object-store URI (s3://, gs://, ...).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Dotted config override, e.g. captions.temperature=0.7 (repeatable)."),
]
StepsOption = Annotated[
    int | None,
    typer.Option("--steps", min=1, help="Stop at this step of the configured schedule (default: train.steps)."),
]

TakeOverOption = Annotated[
    bool,
    typer.Option(
        "--take-over-stale-lease",
        help="Take over the stage's lease on --root from a holder that is stale (no heartbeat for "
        "lease.stale_after_s, or its process gone from this host). Only when that command is dead.",
    ),
]


def resolve_config(config: str, overrides: list[str] | None, *extra: str, join_ray: bool = False) -> Config:
    """Load the config and apply ``--set`` overrides, then the command's own flags (``extra``); with
    ``join_ray``, then join Ray as that config says (see `join_ray_for`)."""
    cfg = load_config(config, [*(overrides or []), *extra])
    if join_ray:
        join_ray_for(cfg)
    return cfg


def join_ray_for(cfg: Config) -> None:
    """Join the Ray cluster of ``ray.address`` / ``RAY_ADDRESS``, or start a local one: the one place a
    ``synclr`` command (and so a Ray job) joins Ray; library functions use the Ray they find."""
    from synclr_ray.cluster import init_ray

    init_ray(cfg.ray)


def _print_version(value: bool) -> None:
    if value:
        from synclr_ray import __version__

        print(f"synclr-ray {__version__}")
        raise typer.Exit()


def resolve_root_config(
    root: str,
    config: str | None,
    overrides: list[str] | None,
    allow_change: list[str] | None,
    *extra: str,
    join_ray: bool = False,
) -> Config:
    """The config of a command on a run root: ``--config`` or the root's remembered one, ``--set`` overrides, then
    the command's own flags; refused if it changes what the root's committed stages used (`root_config`). With
    ``join_ray``, then join Ray as that config says."""
    from synclr_ray.leases.store import require_conditional_writes
    from synclr_ray.root_config import root_config

    require_conditional_writes(root)
    cfg = root_config(root, config, [*(overrides or []), *extra], allow_change or [])
    if join_ray:
        join_ray_for(cfg)
    return cfg


@app.callback()
def _group(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """SynCLR on Ray: captions -> images -> pretraining -> export -> probe / serve."""
