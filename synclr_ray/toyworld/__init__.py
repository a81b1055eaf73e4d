"""The toy world: a small world whose captions carry meaning that its images then show.

A scene is one kind of object (shape, colour, size, texture) drawn 1-3 times on a named
background (`catalog`); `render` draws it with per-image nuisance and per-pixel labels;
`language` writes captions of scenes and reads back what a caption names. The tiny preset's
generators are fitted on, and its probe sets drawn from, the catalog's `WORLD`: one plain object
on a grey wall, varying in shape, colour and size. It sits below the stages: they reach it only
through built-in names (models, datasets), never by import.
"""

from synclr_ray.toyworld.catalog import ATTRIBUTES, WORLD, Scene, concepts, sample_scene, scene_of, world_scene
from synclr_ray.toyworld.language import describe, named_attributes
from synclr_ray.toyworld.render import NUISANCE, Nuisance, Rendering, render

__all__ = ["ATTRIBUTES", "NUISANCE", "WORLD", "Nuisance", "Rendering", "Scene", "concepts", "describe",
           "named_attributes", "render", "sample_scene", "scene_of", "world_scene"]  # fmt: skip
