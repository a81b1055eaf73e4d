"""LLM engines with identical columns: rows with ``prompt`` and ``seed`` in, ``generated_text`` added."""

from collections.abc import Sequence

from ray.data import Dataset

from synclr_ray.config import Config


def generate(ds: Dataset, cfg: Config, columns: Sequence[str]) -> Dataset:
    """Rows with ``columns`` (including ``prompt`` and ``seed``) -> the same plus ``generated_text``; lazy."""
    if cfg.captions.engine == "vllm":
        from synclr_ray.captions.engines.vllm import generate_vllm

        return generate_vllm(ds, cfg, columns)
    from synclr_ray.captions.engines.transformers import generate_transformers

    return generate_transformers(ds, cfg)
