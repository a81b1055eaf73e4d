"""The concept catalog: which concepts exist, from which source, in which group.

ImageNet-1k and the ~12k most frequent ImageNet-21k classes come from the synset and lemma
lists timm ships; the other sources are one-concept-per-line files in ``captions/data``;
users add or replace sources with ``captions.concept_files``.
"""

import random
from dataclasses import dataclass
from importlib import resources

from timm.data import ImageNetInfo

from synclr_ray import storage
from synclr_ray.config.captions import CaptionsConfig, ConceptGroup

# Shipped sources other than ImageNet: name -> concept group.
SHIPPED_FILES: dict[str, ConceptGroup] = {
    "aircraft": "object",
    "food101": "object",
    "flowers102": "object",
    "pets": "object",
    "places365": "place",
    "dtd": "texture",
}
IMAGENET_SOURCES = ("imagenet1k", "imagenet21k")


@dataclass(frozen=True)
class ConceptSource:
    """One named list of concepts sharing a group (object, place or texture)."""

    name: str
    group: ConceptGroup
    concepts: tuple[str, ...]


def _imagenet(name: str) -> tuple[str, ...]:
    """First lemma of each class; ``imagenet21k`` is timm's 12k subset minus the 1k classes."""
    info_1k = ImageNetInfo("imagenet-1k")
    if name == "imagenet1k":
        synsets = info_1k.label_names()
    else:
        in1k = set(info_1k.label_names())
        synsets = [s for s in ImageNetInfo("imagenet-12k").label_names() if s not in in1k]
    info = info_1k  # every subset shares the same lemma table
    names = (info.label_name_to_description(s).split(",")[0].strip() for s in synsets)
    return tuple(dict.fromkeys(names))


def parse_concept_text(text: str, where: str) -> tuple[str, ...]:
    """Concepts from one-per-line text (blank lines and ``#`` comments skipped, duplicates dropped)."""
    lines = (line.strip() for line in text.splitlines())
    concepts = tuple(dict.fromkeys(line for line in lines if line and not line.startswith("#")))
    if not concepts:
        raise ValueError(f"concept file {where} has no concepts")
    return concepts


def _read_user_file(source: str, uri: str) -> tuple[str, ...]:
    try:
        text = storage.read_text(uri)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"captions.concept_files.{source}: cannot read {uri}: {exc}") from None
    return parse_concept_text(text, uri)


def load_source(name: str, cfg: CaptionsConfig) -> ConceptSource:
    """Load one concept source by name, as the config names it."""
    if name in cfg.concept_files:
        spec = cfg.concept_files[name]
        source = ConceptSource(name, spec.group, _read_user_file(name, spec.uri))
    elif name in IMAGENET_SOURCES:
        source = ConceptSource(name, "object", _imagenet(name))
    elif name in SHIPPED_FILES:
        text = (resources.files("synclr_ray.captions") / "data" / f"concepts_{name}.txt").read_text()
        source = ConceptSource(name, SHIPPED_FILES[name], parse_concept_text(text, name))
    else:
        known = ", ".join([*IMAGENET_SOURCES, *SHIPPED_FILES, *cfg.concept_files])
        raise ValueError(
            f"captions.sources.{name}: unknown concept source (known: {known}; add files with captions.concept_files)"
        )
    if cfg.max_concepts_per_source and len(source.concepts) > cfg.max_concepts_per_source:
        picked = sorted(random.Random(name).sample(range(len(source.concepts)), cfg.max_concepts_per_source))
        source = ConceptSource(source.name, source.group, tuple(source.concepts[i] for i in picked))
    return source


def load_catalog(cfg: CaptionsConfig) -> list[ConceptSource]:
    """Every source with a positive weight in ``cfg.sources``, in config order."""
    return [load_source(name, cfg) for name, weight in cfg.sources.items() if weight > 0]
