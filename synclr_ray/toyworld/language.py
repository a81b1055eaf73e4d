"""Captions of the toy world: a scene described in a sentence, and the attributes a sentence names.

`describe` writes the one-line, photo-like captions the fitted generators learn from (the tiny
Llama learns to write them, the tiny SD to draw them); `named_attributes` reads back what any
caption, also an LLM's, says about a scene.
"""

import re
from collections.abc import Collection

import numpy as np

from synclr_ray.toyworld.catalog import BACKGROUNDS, COLOURS, SHAPES, SIZES, TEXTURES, Scene

COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars", "cross": "crosses",
           "heart": "hearts"}  # fmt: skip
WHERE = {
    "sandy beach": "on a sandy beach",
    "green lawn": "on a green lawn",
    "night sky": "in the night sky",
    "snowy field": "in a snowy field",
    "wooden floor": "on a wooden floor",
    "grey wall": "against a grey wall",
}
# Sentence frames: {np} is the noun phrase, {where} the background phrase.
WITH_BACKGROUND = ("{np} {where}.", "A photo of {np} {where}.", "A picture of {np} {where}.", "{np} seen {where}.")
WITHOUT_BACKGROUND = ("A close-up of {np}.", "A photo of {np}.", "A simple drawing of {np}.")
# What the fitted generators' captions may leave unsaid; a caption can also leave its colour unsaid.
OPTIONAL = ("size", "texture", "background")
OMITTABLE = (*OPTIONAL, "colour")
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3}


def noun_phrase(scene: Scene, omit: Collection[str] = ()) -> str:
    """``a small red striped circle``, ``two large blue hearts``: count, size, colour, texture, shape."""
    words = [] if "size" in omit else [scene.size]
    if "colour" not in omit:
        words.append(scene.colour)
    if scene.texture != "plain" and "texture" not in omit:
        words.append(scene.texture)
    words.append(scene.shape if scene.count == 1 else PLURALS[scene.shape])
    article = COUNT_WORDS[scene.count]
    if article == "a" and words[0][0] in "aeiou":
        article = "an"
    return " ".join([article, *words])


def describe(scene: Scene, rng: np.random.Generator, omit: Collection[str] = ()) -> str:
    """One caption of ``scene`` in a random sentence frame; the attributes in ``omit`` go unsaid.

    Shape and count are always said; size, texture, background and colour can be omitted
    (a plain texture is never said).
    """
    unknown = set(omit) - set(OMITTABLE)
    if unknown:
        raise ValueError(f"only {', '.join(OMITTABLE)} can go unsaid, not {sorted(unknown)}")
    phrase = noun_phrase(scene, omit)
    if "background" in omit:
        frame = WITHOUT_BACKGROUND[rng.integers(len(WITHOUT_BACKGROUND))]
    else:
        frame = WITH_BACKGROUND[rng.integers(len(WITH_BACKGROUND))]
    text = frame.format(np=phrase, where=WHERE[scene.background])
    return text[0].upper() + text[1:]


_WORD = re.compile(r"[a-z]+")


def named_attributes(text: str) -> dict[str, str | int]:
    """The scene attributes a caption names (the first mention of each); attributes it does not name are absent."""
    lower = text.lower()
    words = _WORD.findall(lower)
    found: dict[str, str | int] = {}
    singular = {plural: shape for shape, plural in PLURALS.items()}
    for position, word in enumerate(words):
        if word in COLOURS:
            found.setdefault("colour", word)
        elif word in SIZES:
            found.setdefault("size", word)
        elif word in TEXTURES and word != "plain":
            found.setdefault("texture", word)
        elif word in SHAPES or word in singular:
            if "shape" not in found:
                found["shape"] = singular.get(word, word)
                before = reversed(words[max(0, position - 4) : position])
                number = next((NUMBERS[w] for w in before if w in NUMBERS), None)
                if number is not None:
                    found["count"] = number
    for name in BACKGROUNDS:
        if name in lower:
            found["background"] = name
            break
    return found
