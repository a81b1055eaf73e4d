"""``synclr config``: print a resolved config (preset or file plus overrides)."""

from synclr_ray.cli.app import ConfigOption, SetOption, app, resolve_config


@app.command("config")
def show_config(config: ConfigOption = "tiny", overrides: SetOption = None) -> None:
    """Validate a config and print it fully resolved, as it would be saved next to outputs."""
    print(resolve_config(config, overrides).to_yaml(), end="")
