"""Small summaries of caption datasets, computed per block on the workers and summed on the driver.

Only one short row per block travels to the driver, never the captions themselves.
"""

from collections import Counter
from typing import Any

import numpy as np
from ray.data import Dataset


def _partial_counts(batch: dict[str, np.ndarray], columns: list[str]) -> dict[str, list]:
    keys = ["/".join(parts) for parts in zip(*(batch[c].astype(str) for c in columns), strict=True)]
    counts = Counter(keys)
    return {"key": list(counts), "n": list(counts.values())}


def count_by(ds: Dataset, *columns: str) -> dict[str, int]:
    """Row counts per value of ``columns`` (joined with ``/``)."""
    total: Counter = Counter()
    for row in ds.map_batches(_partial_counts, fn_kwargs={"columns": list(columns)}, batch_size=None).iter_rows():
        total[row["key"]] += row["n"]
    return dict(sorted(total.items()))


def _partial_lengths(batch: dict[str, np.ndarray]) -> dict[str, list]:
    words = [len(str(c).split()) for c in batch["caption"]]
    return {"n": [len(words)], "sum": [sum(words)], "min": [min(words, default=0)], "max": [max(words, default=0)]}


def length_stats(ds: Dataset) -> dict[str, Any]:
    """Count, total, min and max caption length in words."""
    stats = {"n": 0, "sum": 0, "min": None, "max": None}
    for row in ds.map_batches(_partial_lengths, batch_size=None).iter_rows():
        if row["n"]:
            stats["n"] += row["n"]
            stats["sum"] += row["sum"]
            stats["min"] = row["min"] if stats["min"] is None else min(stats["min"], row["min"])
            stats["max"] = row["max"] if stats["max"] is None else max(stats["max"], row["max"])
    return stats


def merge_lengths(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Combine two `length_stats` results."""
    pick = lambda f, x, y: y if x is None else x if y is None else f(x, y)  # noqa: E731
    return {
        "n": a["n"] + b["n"],
        "sum": a["sum"] + b["sum"],
        "min": pick(min, a["min"], b["min"]),
        "max": pick(max, a["max"], b["max"]),
    }
