"""Imports every command module so each registers its subcommands on the app."""

from synclr_ray.cli import config_cmd  # noqa: F401
