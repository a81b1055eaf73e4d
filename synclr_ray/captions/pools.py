"""In-context example pools we wrote ourselves, one ``prompt line`` per example (recipe §1).

``c_object``/``c_place``/``c_texture`` hold ``concept => caption`` lines for the ``c`` template
(106 together), ``c_bg`` holds ``concept, background => caption`` (50), ``c_rel`` holds
``concept, relation => caption`` (20), and ``backgrounds`` holds ``concept => bg; bg; ...``.
"""

from functools import cache
from importlib import resources

from synclr_ray.config.captions import ConceptGroup, Template

POOLS = ("c_object", "c_place", "c_texture", "c_bg", "c_rel", "backgrounds")
SEPARATOR = " => "


@cache
def load_pool(name: str) -> tuple[str, ...]:
    """The example lines of one pool."""
    if name not in POOLS:
        raise ValueError(f"unknown example pool {name!r} (known: {', '.join(POOLS)})")
    text = (resources.files("synclr_ray.captions") / "data" / f"examples_{name}.txt").read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def pool_name(template: Template, group: ConceptGroup) -> str:
    """The pool a prompt draws its examples from: ``c`` has one pool per concept group."""
    return f"c_{group}" if template == "c" else template
