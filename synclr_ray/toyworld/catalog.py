"""The toy world's concept catalog: the attributes a scene has, their values, and the words that name them.

A scene is one kind of object (shape, colour, size, texture) drawn ``count`` times on a named
background. Every value here is something `synclr_ray.toyworld.render` can draw, and its name is
the word a caption uses for it.
"""

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

RGB = tuple[int, int, int]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart")
# Saturated, well-separated hues; the backgrounds below are muted so every object stands out.
COLOURS: dict[str, RGB] = {
    "red": (215, 35, 35),
    "orange": (240, 135, 20),
    "yellow": (235, 215, 30),
    "green": (35, 165, 55),
    "blue": (35, 85, 215),
    "purple": (135, 50, 185),
}
# Object width as a fraction of the image side (before per-image scale jitter). Both sizes span several cells of
# the tiny SD's 8x8 latent grid: a smaller object is a blob of two or three cells, whatever its shape.
SIZES: dict[str, float] = {"small": 0.5, "large": 0.75}
TEXTURES: tuple[str, ...] = ("plain", "striped", "dotted")
BACKGROUNDS: dict[str, RGB] = {
    "sandy beach": (212, 192, 150),
    "green lawn": (96, 128, 78),
    "night sky": (22, 26, 54),
    "snowy field": (228, 232, 238),
    "wooden floor": (122, 86, 56),
    "grey wall": (128, 128, 130),
}
COUNTS: tuple[int, ...] = (1, 2, 3)

ATTRIBUTES: dict[str, tuple] = {
    "shape": SHAPES,
    "colour": tuple(COLOURS),
    "size": tuple(SIZES),
    "texture": TEXTURES,
    "background": tuple(BACKGROUNDS),
    "count": COUNTS,
}
# The world of the tiny preset (what its generators are fitted on and its probe sets show): one plain object on a
# grey wall, varying in shape, colour and size. The renderer draws more (textures, backgrounds, up to three copies)
# for the segmentation sets and the benches, but a tiny SD fitted in minutes on 2 cores draws outlines only where
# nothing else varies (README, "Toy world").
WORLD: dict[str, str | int] = {"texture": "plain", "background": "grey wall", "count": 1}
WORLD_ATTRIBUTES: tuple[str, ...] = tuple(name for name in ATTRIBUTES if name not in WORLD)


@dataclass(frozen=True)
class Scene:
    """What one caption of the toy world can say: an object, how many of it, and on what background."""

    shape: str
    colour: str
    size: str = "large"
    texture: str = "plain"
    background: str = "grey wall"
    count: int = 1

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value not in ATTRIBUTES[name]:
                known = ", ".join(str(v) for v in ATTRIBUTES[name])
                raise ValueError(f"toy scene {name} {value!r} is not in the catalog (known: {known})")

    @property
    def concept(self) -> str:
        """The concept a caption prompt names: colour and shape, e.g. ``red circle``."""
        return f"{self.colour} {self.shape}"

    def attributes(self) -> dict[str, str | int]:
        """Attribute name -> value."""
        return asdict(self)


def concepts() -> list[str]:
    """Every concept of the toy world (colour x shape), the caption stage's concept list."""
    return [f"{colour} {shape}" for colour in COLOURS for shape in SHAPES]


def scene_of(concept: str, **attributes: str | int) -> Scene:
    """The scene of a ``colour shape`` concept, with any other attributes given."""
    colour, _, shape = concept.partition(" ")
    return Scene(shape=shape, colour=colour, **attributes)


def sample_scene(rng: np.random.Generator, **fixed: str | int) -> Scene:
    """A scene with every attribute not given in ``fixed`` drawn uniformly from the catalog."""
    unknown = set(fixed) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown toy scene attribute(s) {sorted(unknown)} (known: {', '.join(ATTRIBUTES)})")
    drawn = {name: values[rng.integers(len(values))] for name, values in ATTRIBUTES.items() if name not in fixed}
    return Scene(**{**drawn, **fixed})


def world_scene(rng: np.random.Generator, **fixed: str | int) -> Scene:
    """A scene of the tiny preset's world (`WORLD`), its other attributes drawn uniformly unless given."""
    return sample_scene(rng, **{**WORLD, **fixed})


def parse_attributes(pairs: Iterable[str]) -> dict[str, str | int]:
    """``ATTRIBUTE=VALUE`` strings (e.g. from a command line) as scene attributes: ``count=1`` -> ``{"count": 1}``."""
    attributes: dict[str, str | int] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        values = {str(value): value for value in ATTRIBUTES.get(name, ())}
        if text not in values:
            known = ", ".join(values) if values else f"attributes {', '.join(ATTRIBUTES)}"
            raise ValueError(f"toy scene attribute {pair!r} is not ATTRIBUTE=VALUE from the catalog (known: {known})")
        attributes[name] = values[text]
    return attributes
