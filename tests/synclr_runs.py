"""How tests run `synclr`: as a user types it, through its entry point, into one result type (`Ran`).

``run_synclr(*args)`` (also the ``synclr`` fixture) runs the command in this process: fast, a failure takes the
one-line path users see, and a command that needs Ray joins the session's cluster. ``synclr_process(*args)`` runs
the installed script in its own process, for what only a process shows: output to a pipe, a command joining a
cluster by address, a failure before Ray starts. Registered by tests/conftest.py (``pytest_plugins``).
"""

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from synclr_ray.cli import main

SYNCLR = str(Path(sys.executable).with_name("synclr"))


@dataclass(frozen=True)
class Ran:
    """A finished `synclr` command: its exit code and its stdout and stderr, stripped."""

    code: int
    out: str
    err: str


def run_synclr(*args: str) -> Ran:
    """``synclr ARGS`` run in this process through its entry point, ``synclr_ray.cli.main``."""
    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["synclr", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main()
    finally:
        sys.argv = argv
    return Ran(exited.value.code, out.getvalue().strip(), err.getvalue().strip())


@pytest.fixture
def synclr() -> Callable[..., Ran]:
    """``synclr(*args)``: `run_synclr`."""
    return run_synclr


@pytest.fixture
def synclr_process() -> Callable[..., Ran]:
    """``synclr_process(*args, join_ray=False, timeout=120)``: the installed script in its own process; with
    ``join_ray`` it joins this session's cluster, as jobs submitted to one cluster do."""

    def run(*args: str, join_ray: bool = False, timeout: float = 120) -> Ran:
        env = dict(os.environ)
        if join_ray:
            import ray

            env["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
        done = subprocess.run([SYNCLR, *args], capture_output=True, text=True, timeout=timeout, env=env)
        return Ran(done.returncode, done.stdout.strip(), done.stderr.strip())

    return run
