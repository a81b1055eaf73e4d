"""Tests mirror the package: every module of synclr_ray/ has its own test file (CONTRIBUTING.md, "Tests").

``synclr_ray/<module>.py`` is tested in ``tests/test_<module>.py``; ``synclr_ray/<sub>/<module>.py``
in ``tests/<sub>/test_<sub>_<module>.py``, nested packages joined with ``_``
(``synclr_ray/train/losses/ibot.py`` -> ``tests/train/test_train_losses_ibot.py``); a package's
``__init__.py`` that holds code in ``tests/<sub>/test_<sub>[_<package>].py``. The prefix keeps
every test file's name unique, which pytest needs without ``__init__.py`` files in tests/.
"""

import ast
from pathlib import Path

import synclr_ray

PACKAGE = Path(synclr_ray.__file__).parent
TESTS = Path(__file__).parent

# Package __init__ files that only re-export or document (checked below: no code of their own).
PURE_INITS = {
    "__init__.py",
    "captions/__init__.py",
    "config/__init__.py",
    "downstream/__init__.py",
    "embed/__init__.py",
    "eval/__init__.py",
    "finetune/__init__.py",
    "images/__init__.py",
    "leases/__init__.py",
    "segment/__init__.py",
    "serving/__init__.py",
    "toyworld/__init__.py",
    "train/__init__.py",
    "train/losses/__init__.py",
}
# The command line's modules (and `python -m synclr_ray`) are tested through the `synclr` command, as a user
# types it, in tests/cli/.
COMMAND_LINE = ("cli/", "__main__.py")


def expected_test(module: Path) -> Path:
    """The test file of a module path relative to the package."""
    parts = list(module.with_suffix("").parts)
    package_init = parts[-1] == "__init__"
    if package_init:
        parts.pop()
    if len(parts) == 1 and not package_init:
        return TESTS / f"test_{parts[0]}.py"
    return TESTS / parts[0] / f"test_{'_'.join(parts)}.py"


def _defines_nothing(path: Path) -> bool:
    """True when a module holds only a docstring, imports, ``__all__`` and ``__version__``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and all(
            isinstance(t, ast.Name) and t.id in ("__all__", "__version__") for t in node.targets
        ):
            continue
        return False
    return True


def _modules() -> list[str]:
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))


def test_every_module_has_its_test_file():
    missing = [
        f"synclr_ray/{module} -> {expected_test(Path(module)).relative_to(TESTS.parent)}"
        for module in _modules()
        if module not in PURE_INITS
        and not module.startswith(COMMAND_LINE)
        and not expected_test(Path(module)).is_file()
    ]
    assert missing == []


def test_exempt_inits_hold_no_code():
    assert set(PURE_INITS) <= set(_modules()), "an exempt module no longer exists: drop it from PURE_INITS"
    holding_code = [module for module in sorted(PURE_INITS) if not _defines_nothing(PACKAGE / module)]
    assert holding_code == [], "these now hold code: give them a test file and drop them from PURE_INITS"


def test_the_mapping_names_real_files():
    # The rule itself: a module that certainly has tests maps onto them.
    assert expected_test(Path("rows.py")) == TESTS / "test_rows.py"
    assert expected_test(Path("train/losses/ibot.py")).is_file()
    assert not _defines_nothing(PACKAGE / "rows.py")
