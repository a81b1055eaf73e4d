"""`pip install .` gives a working `synclr`: declared dependencies, package data, no top-level `serve`."""

import ast
import os
import re
import subprocess
import sys
import sysconfig
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement)[0].lower().replace("_", "-")


def test_every_library_the_package_imports_is_declared():
    """The fresh-venv install below sees the whole lock, so it cannot catch an undeclared import: this does."""
    imported = set()
    for path in (REPO / "synclr_ray").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    imported -= {*sys.stdlib_module_names, "synclr_ray"}
    # The installed metadata is pyproject.toml's (make reinstalls when it changes); test extras do not count.
    declared = {_requirement_name(r) for r in requires("synclr-ray") if 'extra == "test"' not in r}
    distributions = packages_distributions()
    undeclared = {
        module
        for module in imported
        if not {_requirement_name(d) for d in distributions.get(module, [module])} & declared
    }
    assert undeclared == set(), f"imported by synclr_ray but not declared in pyproject.toml: {sorted(undeclared)}"


def _tracked_tree(dest: Path) -> Path:
    """The files a fresh clone has (tracked and new, not ignored), without tests: no build litter in the repo."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if name.startswith("tests/") or not (REPO / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes((REPO / name).read_bytes())
    return dest


@pytest.mark.slow  # builds and installs the package into a new venv: ~20 s
def test_pip_install_into_a_fresh_venv_gives_a_working_cli(tmp_path):
    source = _tracked_tree(tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # The new venv sees this venv's installed lock (its dependencies, pip and setuptools) through a path entry,
    # so pip resolves the declared ranges against the exact locked versions without downloading them again;
    # --no-index makes any dependency the lock does not satisfy an error instead of a download.
    purelib = sysconfig.get_paths()["purelib"]
    site = Path(subprocess.check_output([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())  # fmt: skip
    (site / "synclr-lock.pth").write_text(purelib + "\n")
    install = subprocess.run(
        [venv / "bin/python", "-m", "pip", "install", "--no-index", "--no-build-isolation", "-q", str(source)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the venv installed
        return subprocess.run([*args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    helped = run(str(venv / "bin/synclr"), "--help")
    assert helped.returncode == 0 and "pretrain" in helped.stdout and "captions" in helped.stdout, helped.stderr
    from synclr_ray import __version__

    for command in (
        [str(venv / "bin/synclr"), "--version"],
        [str(venv / "bin/python"), "-m", "synclr_ray", "--version"],
    ):
        assert run(*command).stdout.strip() == f"synclr-ray {__version__}"
    # Package data (presets) and the Serve app come from the installed package; nothing is named `serve`.
    code = (
        "import importlib.util, synclr_ray, synclr_ray.config as c, synclr_ray.serving.app; "
        "print(synclr_ray.__file__); print(c.load_config('paper-vitb16').name); "
        "print(importlib.util.find_spec('serve'))"
    )
    checked = run(str(venv / "bin/python"), "-c", code)
    where, preset, serve = checked.stdout.splitlines()[-3:]
    assert where.startswith(str(site)) and preset == "paper-vitb16" and serve == "None", checked
