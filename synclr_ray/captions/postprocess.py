"""Per-row caption post-processing (what the reference code lacks) and the dedup key.

Rules, in order: keep the first line of the completion, strip it, then mark it ``empty``,
``too_short`` or ``too_long`` (word counts from the config), else ``ok``. Exact dedup uses a
hash of the normalised text (case-folded, whitespace collapsed, trailing punctuation and
quotes dropped), so "A cat." and "a  cat" count as the same caption.
"""

import hashlib
import re

import numpy as np

STATUSES = ("ok", "empty", "too_short", "too_long")
_SPACES = re.compile(r"\s+")
_EDGE = " \t\"'`.,;:!?"


def clean(text: str) -> str:
    """The first line of a completion, stripped."""
    return text.lstrip("\n").split("\n", 1)[0].strip() if text.strip() else ""


def status(caption: str, min_words: int, max_words: int) -> str:
    """Why a cleaned caption is dropped, or ``ok``."""
    if not caption:
        return "empty"
    words = len(caption.split())
    if words < min_words:
        return "too_short"
    if words > max_words:
        return "too_long"
    return "ok"


def normalise(caption: str) -> str:
    """The text two captions must share to count as duplicates."""
    return _SPACES.sub(" ", caption.casefold()).strip(_EDGE)


def dedup_key(caption: str) -> int:
    """A 63-bit hash of the normalised caption (collisions are negligible below ~10^9 rows)."""
    digest = hashlib.blake2b(normalise(caption).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def mark_captions(batch: dict[str, np.ndarray], min_words: int, max_words: int) -> dict[str, np.ndarray]:
    """Ray Data batch UDF: ``generated_text`` -> ``caption``, ``status``, ``key`` (raw text and prompt dropped)."""
    batch.pop("prompt", None)  # not needed past the engine, and the bulk of a row
    captions = [clean(str(t)) for t in batch.pop("generated_text")]
    batch["caption"] = np.array(captions, dtype=object)
    batch["status"] = np.array([status(c, min_words, max_words) for c in captions], dtype=object)
    batch["key"] = np.array([dedup_key(c) for c in captions], dtype=np.int64)
    return batch
