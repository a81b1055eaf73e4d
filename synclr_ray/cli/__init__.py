"""The ``synclr`` command: thin wrappers that parse options and call the library."""

import logging
import os
import sys

import click

from synclr_ray.cli import commands  # noqa: F401  (registers the subcommands)
from synclr_ray.cli.app import app

__all__ = ["app", "main"]


def plain_output_when_piped() -> None:
    """Logs without terminal control codes when stdout is not a terminal (a file, a pipe, a job log): no progress
    bars (tqdm's, Hugging Face's, Ray Data's) and no colour codes around Ray's worker-log prefixes. Local Ray
    workers inherit these variables."""
    if sys.stdout.isatty():
        return
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("RAY_COLOR_PREFIX", "0")


def leave_ray() -> None:
    """Disconnect from Ray if this process joined it.

    Workers' logs reach this console from a background thread; leaving Ray first makes the error
    line the last one a user sees (a crashed actor's dump would otherwise follow it).
    """
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def main() -> None:
    """Entry point: run a subcommand; on failure print one line naming the problem and exit non-zero."""
    plain_output_when_piped()
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
        leave_ray()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
