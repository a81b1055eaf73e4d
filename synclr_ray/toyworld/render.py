"""The procedural renderer: a scene in, an image and its per-pixel labels out.

Every image of one scene differs in what a caption does not say (nuisance): where each object
sits, its rotation, a scale jitter, the shade of its colour, the lighting of the background and
pixel noise. Object outlines are drawn at 4x and averaged down, so edges are anti-aliased; a pixel
belongs to an object in the label masks when the object covers at least half of it.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from synclr_ray.toyworld.catalog import BACKGROUNDS, COLOURS, SHAPES, SIZES, Scene

SUPERSAMPLE = 4
# Several copies of an object shrink so they fit side by side.
COUNT_SCALE = {1: 1.0, 2: 0.78, 3: 0.66}


@dataclass(frozen=True)
class Nuisance:
    """How much the images of one scene vary; `Nuisance(0, 0, 0, 0, 0)` draws a centred, exact scene."""

    max_rotation: float = 25.0  # degrees either way: a square never turns into a diamond
    scale_jitter: float = 0.12  # relative, either way
    colour_jitter: float = 0.08  # relative brightness of object and background, either way
    lighting: float = 0.12  # amplitude of a linear brightness gradient over the background
    noise: float = 3.0  # std of Gaussian pixel noise, in 0..255 units
    random_position: bool = True


NUISANCE = Nuisance()


@dataclass(frozen=True)
class Rendering:
    """A drawn scene: the RGB image and two label masks of the same size.

    ``instances``: 0 for background, ``i`` for the i-th object (1..count; a later object covers an
    earlier one). ``classes``: 0 for background, ``1 + SHAPES.index(shape)`` on the objects.
    """

    image: Image.Image
    instances: np.ndarray
    classes: np.ndarray


def render(
    scene: Scene, size: int = 64, rng: np.random.Generator | int = 0, nuisance: Nuisance = NUISANCE
) -> Rendering:
    """Draw ``scene`` at ``size`` x ``size`` pixels; ``rng`` (or its seed) picks the nuisance."""
    if size < 16:
        raise ValueError(f"toy render size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(rng)
    pixels = _background(scene.background, size, rng, nuisance)
    instances = np.zeros((size, size), dtype=np.uint8)
    width = SIZES[scene.size] * COUNT_SCALE[scene.count] * size
    placed: list[tuple[float, float]] = []
    for index in range(1, scene.count + 1):
        scale = 1.0 + rng.uniform(-nuisance.scale_jitter, nuisance.scale_jitter)
        radius = width * scale / 2
        angle = np.deg2rad(rng.uniform(-nuisance.max_rotation, nuisance.max_rotation))
        centre = _place(rng, radius, size, placed, nuisance.random_position)
        placed.append(centre)
        coverage = _coverage(_outline(scene.shape, centre, radius, angle), size)
        shade = 1.0 + rng.uniform(-nuisance.colour_jitter, nuisance.colour_jitter)
        fill = _fill(scene.texture, np.array(COLOURS[scene.colour]) * shade, centre, radius, angle, size, rng)
        pixels = pixels * (1 - coverage[..., None]) + fill * coverage[..., None]
        instances[coverage >= 0.5] = index
    pixels += rng.normal(0.0, nuisance.noise, pixels.shape) if nuisance.noise else 0.0
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    classes = np.where(instances > 0, 1 + SHAPES.index(scene.shape), 0).astype(np.uint8)
    return Rendering(image=image, instances=instances, classes=classes)


def _background(name: str, size: int, rng: np.random.Generator, nuisance: Nuisance) -> np.ndarray:
    """The named background with its own pattern, a random brightness and a linear lighting gradient."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.array(BACKGROUNDS[name], dtype=float)
    grain = rng.normal(0.0, 1.0, (size, size))
    if name == "sandy beach":
        pattern = 6 * grain
    elif name == "green lawn":  # blades: columns of different shades
        pattern = 9 * rng.normal(0.0, 1.0, (1, size)) + 4 * grain
    elif name == "night sky":  # sparse stars
        pattern = np.where(rng.uniform(size=(size, size)) < 0.01, 160.0, 0.0)
    elif name == "wooden floor":  # planks with wood grain and darker seams
        rows = y * 5 + rng.uniform()
        pattern = 10 * np.sin(2 * np.pi * (x * 4 + 0.37 * np.floor(rows))) - 35 * (rows % 1 < 0.07)
    else:
        pattern = 2 * grain
    brightness = 1.0 + rng.uniform(-nuisance.colour_jitter, nuisance.colour_jitter)
    direction = rng.uniform(0, 2 * np.pi)
    gradient = nuisance.lighting * rng.uniform(0, 1) * ((x - 0.5) * np.cos(direction) + (y - 0.5) * np.sin(direction))
    return (base * brightness)[None, None, :] * (1 + 2 * gradient[..., None]) + pattern[..., None]


def _place(
    rng: np.random.Generator, radius: float, size: int, placed: list[tuple[float, float]], random: bool
) -> tuple[float, float]:
    """A centre keeping the object inside the image and, when possible, apart from those already placed."""
    if not random and not placed:
        return size / 2, size / 2
    low, high = min(radius, size / 2), max(size - radius, size / 2)
    best, best_gap = (size / 2, size / 2), -1.0
    for _ in range(64):
        centre = (rng.uniform(low, high), rng.uniform(low, high))
        gap = min((np.hypot(centre[0] - x, centre[1] - y) for x, y in placed), default=np.inf)
        if gap >= 2 * radius:
            return centre
        if gap > best_gap:
            best, best_gap = centre, gap
    return best


def _unit_outline(shape: str) -> np.ndarray:
    """The shape's polygon around the origin, about radius 1, pointing up (image y grows downwards)."""
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if shape == "circle":
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if shape == "square":
        return 0.82 * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    if shape == "triangle":
        a = np.deg2rad([-90, 30, 150])
        return 1.1 * np.stack([np.cos(a), np.sin(a) + 0.15], axis=1)
    if shape == "star":
        a = np.deg2rad(np.arange(10) * 36 - 90)
        r = np.where(np.arange(10) % 2 == 0, 1.1, 0.45)
        return np.stack([r * np.cos(a), r * np.sin(a) + 0.08], axis=1)
    if shape == "cross":
        w = 0.33
        half = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w)]
        return np.array([*half, (-w, -w)], dtype=float)
    if shape == "heart":
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y + 2.5], axis=1) / 16
    raise ValueError(f"toy shape {shape!r} has no outline (known: {', '.join(SHAPES)})")


def _outline(shape: str, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """The shape's polygon in pixel coordinates."""
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return _unit_outline(shape) @ rotation.T * radius + np.array(centre)


def _coverage(polygon: np.ndarray, size: int) -> np.ndarray:
    """Fraction of each pixel inside the polygon (drawn at 4x, averaged down)."""
    canvas = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
    ImageDraw.Draw(canvas).polygon((polygon * SUPERSAMPLE).ravel().tolist(), fill=255)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255


def _fill(
    texture: str,
    colour: np.ndarray,
    centre: tuple[float, float],
    radius: float,
    angle: float,
    size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The object's colour over the whole image, patterned in the object's own (rotated) frame."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    u = ((x - centre[0]) * np.cos(angle) + (y - centre[1]) * np.sin(angle)) / radius
    v = (-(x - centre[0]) * np.sin(angle) + (y - centre[1]) * np.cos(angle)) / radius
    if texture == "striped":
        light = np.sin(np.pi * 2.5 * u + rng.uniform(0, 2 * np.pi)) > 0
    elif texture == "dotted":
        light = np.hypot((u * 2.2 + 0.5) % 1 - 0.5, (v * 2.2 + 0.5) % 1 - 0.5) > 0.27
    else:
        light = np.ones((size, size), dtype=bool)
    return np.where(light[..., None], colour, 0.45 * colour)
