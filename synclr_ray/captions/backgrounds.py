"""Per-concept backgrounds for ``c, bg`` prompts.

The paper asked an LLM once per concept for plausible backgrounds, so pairs stay realistic.
We do the same with the caption engine (a ``concept => bg; bg; ...`` prompt), cache the result
as a Parquet dataset (columns ``concept``, ``backgrounds``: list of strings) and fall back to the
shipped generic list of the concept's source when a concept has none. Users can supply their
own table in the same format (``captions.backgrounds: path/or/s3/uri``).
"""

from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import yaml
from ray.data import Dataset

from synclr_ray import seeds, storage
from synclr_ray.captions.concepts import ConceptSource
from synclr_ray.captions.engines import generate
from synclr_ray.captions.postprocess import clean
from synclr_ray.captions.prompts import background_prompt
from synclr_ray.config import Config

MAX_WORDS = 8
PER_CONCEPT = 10
SCHEMA = pa.schema([("concept", pa.string()), ("backgrounds", pa.list_(pa.string()))])


@cache
def generic_backgrounds() -> dict[str, tuple[str, ...]]:
    """The shipped fallback lists: concept source -> backgrounds (``default`` for any other source)."""
    text = (resources.files("synclr_ray.captions") / "data" / "backgrounds_generic.yaml").read_text()
    return {name: tuple(items) for name, items in yaml.safe_load(text).items()}


def parse_backgrounds(text: str) -> list[str]:
    """Backgrounds from one completion: first line, ``;``-separated, 1..8 words each, deduplicated."""
    parts = (p.strip(" .\"'") for p in clean(text).split(";"))
    return list(dict.fromkeys(p for p in parts if p and len(p.split()) <= MAX_WORDS))[:PER_CONCEPT]


def _parse_batch(batch: dict[str, np.ndarray]) -> dict[str, list]:
    return {
        "concept": list(batch["concept"]),
        "backgrounds": [parse_backgrounds(str(t)) for t in batch["generated_text"]],
    }


def background_dataset(cfg: Config, catalog: list[ConceptSource]) -> Dataset:
    """Lazy: one LLM-generated background list per object concept of the catalog."""
    concepts = list(dict.fromkeys(c for s in catalog if s.group == "object" for c in s.concepts))
    rows = [
        {"concept": c, "seed": i, "prompt": background_prompt(c, seeds.derive(cfg.seed, "backgrounds", i))}
        for i, c in enumerate(concepts)
    ]
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // 4096))
    return generate(ds, cfg, ["concept", "seed", "prompt"]).map_batches(_parse_batch)


def load_backgrounds(uri: str) -> dict[str, tuple[str, ...]]:
    """A background table (Parquet file or directory, local or s3://) as concept -> backgrounds."""
    fs, path = storage.filesystem(uri)
    try:
        table = pq.read_table(path, filesystem=fs, columns=["concept", "backgrounds"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"captions.backgrounds: cannot read a concept/backgrounds table at {uri}: {exc}") from None
    return {
        c: tuple(b) for c, b in zip(table["concept"].to_pylist(), table["backgrounds"].to_pylist(), strict=True) if b
    }
