"""The ``synclr`` command: thin wrappers that parse options and call the library."""

import logging
import os
import sys

import click

from synclr_ray.cli import commands  # noqa: F401  (registers the subcommands)
from synclr_ray.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run a subcommand; on failure print one line naming the problem and exit non-zero."""
    logging.basicConfig(level=os.environ.get("SYNCLR_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    try:
        code = app(standalone_mode=False, prog_name="synclr")
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # one line for users; SYNCLR_DEBUG=1 shows the traceback
        if os.environ.get("SYNCLR_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
