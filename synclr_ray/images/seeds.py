"""Per-image seeds: a pure function of (run seed, caption_id, epoch, image index).

Any image can be regenerated exactly from its row, and a later epoch draws fresh noise for
the same caption. Hashing (rather than arithmetic on a counter) keeps seeds independent of
the order, batching and sharding in which captions are processed.
"""

import hashlib

_SEED_BITS = 63  # fits int64 columns and torch.Generator.manual_seed


def image_seed(run_seed: int, caption_id: str, epoch: int, index: int) -> int:
    """The initial-noise seed of image ``index`` of caption ``caption_id`` in ``epoch``."""
    key = f"synclr-image/{run_seed}/{epoch}/{caption_id}/{index}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - _SEED_BITS)


def caption_seeds(run_seed: int, caption_id: str, epoch: int, count: int) -> list[int]:
    """The seeds of a caption's ``count`` images, in image-index order."""
    return [image_seed(run_seed, caption_id, epoch, index) for index in range(count)]
