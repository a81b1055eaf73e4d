"""The toy world sits below the stages: nothing outside it imports it (stages reach it by builtin:// URIs)."""

import ast
from pathlib import Path

import synclr_ray

PACKAGE = Path(synclr_ray.__file__).parent
# The procedural segmentation set is drawn by the renderer itself (a data generator, not a stage).
RENDERER_USERS = {"segment/synthetic.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return names


def test_no_module_outside_the_toy_world_imports_it():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in _imports(path) if n.startswith("synclr_ray.toyworld"))
        for path in PACKAGE.rglob("*.py")
        if "toyworld" not in path.relative_to(PACKAGE).parts and str(path.relative_to(PACKAGE)) not in RENDERER_USERS
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert _imports(PACKAGE / "toyworld" / "render.py")  # the scan does see imports
