"""Prompt planning: row index -> (concept, template, background/relation, 3 examples) -> prompt text.

Every choice is drawn from a generator seeded by (run seed, row index), so any range of rows can
be planned on any worker, in any order, and always gives the same prompts.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from synclr_ray import rows, seeds
from synclr_ray.captions.concepts import ConceptSource
from synclr_ray.captions.pools import SEPARATOR, load_pool, pool_name
from synclr_ray.config.captions import CaptionsConfig, ConceptGroup, Template

RELATIONS = ("in", "on", "next to", "behind", "in front of", "over", "under", "above", "below", "besides")
NUM_EXAMPLES = 3
INSTRUCTIONS: dict[tuple[Template, ConceptGroup], str] = {
    ("c", "object"): "Generate an image description with an object category:",
    ("c", "place"): "Generate an image description with a place category:",
    ("c", "texture"): "Generate an image description with a texture category:",
    ("c_bg", "object"): "Generate an image description with an object category and a background:",
    ("c_rel", "object"): "Generate an image description with an object category and a spatial relation:",
}
BACKGROUNDS_INSTRUCTION = "List plausible backgrounds for a photo of an object category:"
TEMPLATES: tuple[Template, ...] = ("c", "c_bg", "c_rel")


def format_prompt(instruction: str, examples: Sequence[str], query: str) -> str:
    """One instruction line, the examples separated by blank lines, then ``query =>`` to complete."""
    return "\n\n".join([instruction, *examples, f"{query}{SEPARATOR.rstrip()}"])


def caption_id(run_seed: int, index: int) -> str:
    """Deterministic, sortable id of the caption planned at ``index``."""
    return f"s{run_seed}-{index:012d}"


class PromptPlanner:
    """Turns row indices into prompt rows; cheap to ship to workers (holds the catalog)."""

    def __init__(
        self,
        cfg: CaptionsConfig,
        run_seed: int,
        catalog: Sequence[ConceptSource],
        backgrounds: Mapping[str, Sequence[str]],
        generic_backgrounds: Mapping[str, Sequence[str]],
    ):
        self.run_seed = run_seed
        self.sources = list(catalog)
        weights = np.array([cfg.sources[s.name] for s in self.sources], dtype=float)
        self.source_p = weights / weights.sum()
        tweights = np.array([cfg.templates.get(t, 0.0) for t in TEMPLATES], dtype=float)
        self.template_p = tweights / tweights.sum()
        self.backgrounds = backgrounds
        self.generic_backgrounds = generic_backgrounds

    def _background(self, rng: np.random.Generator, source: ConceptSource, concept: str) -> str:
        choices = (
            self.backgrounds.get(concept)
            or self.generic_backgrounds.get(source.name)
            or self.generic_backgrounds["default"]
        )
        return choices[rng.integers(len(choices))]

    def plan(self, index: int) -> dict:
        """The planned prompt of one caption index (the prompt row's columns but ``epoch``)."""
        rng = seeds.generator(self.run_seed, index)
        source = self.sources[rng.choice(len(self.sources), p=self.source_p)]
        concept = source.concepts[rng.integers(len(source.concepts))]
        template: Template = TEMPLATES[rng.choice(3, p=self.template_p)] if source.group == "object" else "c"
        if template == "c_bg":
            query = f"{concept}, {self._background(rng, source, concept)}"
        elif template == "c_rel":
            query = f"{concept}, {RELATIONS[rng.integers(len(RELATIONS))]}"
        else:
            query = concept
        pool = load_pool(pool_name(template, source.group))
        examples = [pool[i] for i in rng.choice(len(pool), NUM_EXAMPLES, replace=False)]
        return {
            "index": index,
            "caption_id": caption_id(self.run_seed, index),
            "concept": concept,
            "concept_source": source.name,
            "template": template,
            "seed": int(rng.integers(2**63 - 1)),
            "prompt": format_prompt(INSTRUCTIONS[(template, source.group)], examples, query),
        }

    def table(self, indices: Sequence[int], epochs: Sequence[int] | None = None) -> pa.Table:
        """Prompt rows (`rows.PROMPT_SCHEMA`) of caption ``indices``, drawn in generation ``epochs`` (default 0)."""
        epochs = [0] * len(indices) if epochs is None else epochs
        planned = [{**self.plan(int(i)), "epoch": int(e)} for i, e in zip(indices, epochs, strict=True)]
        return rows.to_table(planned, rows.PROMPT_SCHEMA)

    def __call__(self, batch: dict[str, np.ndarray], offset: int = 0) -> pa.Table:
        """Ray Data batch UDF over an ``id`` column: the prompt rows of indices ``offset + id`` (epoch 0)."""
        return self.table([offset + int(i) for i in batch["id"]])


def background_prompt(concept: str, seed: int) -> str:
    """The ``c -> list of backgrounds`` prompt for one concept."""
    pool = load_pool("backgrounds")
    rng = np.random.default_rng(seed)
    examples = [pool[i] for i in rng.choice(len(pool), NUM_EXAMPLES, replace=False)]
    return format_prompt(BACKGROUNDS_INSTRUCTION, examples, concept)
