"""Imports every command module so each registers its subcommands on the app."""

from synclr_ray.cli import captions  # noqa: F401
from synclr_ray.cli import config_cmd  # noqa: F401
from synclr_ray.cli import demo  # noqa: F401
from synclr_ray.cli import eval  # noqa: F401
from synclr_ray.cli import images  # noqa: F401
from synclr_ray.cli import pipeline  # noqa: F401
from synclr_ray.cli import serve  # noqa: F401
from synclr_ray.cli import train  # noqa: F401
