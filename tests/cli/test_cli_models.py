"""``synclr models`` as a user types it: prints where each built-in artefact is, builds nothing twice."""

import subprocess
import sys
from pathlib import Path

from synclr_ray import storage

SYNCLR = str(Path(sys.executable).with_name("synclr"))


def test_models_prints_each_artefact_in_the_cache():
    path = storage.local_copy("builtin://toyworld")  # built once per machine, like `make models` does
    done = subprocess.run([SYNCLR, "models", "toyworld"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"builtin://toyworld: {path}"]  # found built: no "built ..." line


def test_an_unknown_artefact_is_named_with_the_known_ones():
    done = subprocess.run([SYNCLR, "models", "nope"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "unknown built-in artefact builtin://nope" in done.stderr and "tiny-sd15" in done.stderr
