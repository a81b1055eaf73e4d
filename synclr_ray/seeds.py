"""Every seed a run uses derives here from the run seed (``Config.seed``), as a pure function of named parts.

Hashing named parts (rather than counting, or reading process state) keeps every random draw
independent of the order, batching, sharding, rank count and restarts with which the work is
done: an image, a crop or a training step can be redone exactly from its row or its step.

`derive` is the derivation for single seeds: blake2b (8 bytes) of the parts joined with ``:``,
read little-endian, its top 63 bits (fits int64 columns and ``torch.Generator.manual_seed``).
`generator` seeds a numpy Generator from the integer parts themselves (numpy's SeedSequence)
for code that draws several values. Two older derivations keep their own keys because their
values are already in use: `image_seeds`, written into every image row (row format 2) and
deciding its pixels, and `shuffle_seed`, the 32-bit order of a downstream run's epochs. Changing
what any function here returns changes what existing run roots would redo: that needs a
`synclr_ray.rows.FORMAT_VERSION` bump, and tests/test_seeds.py pins today's values.
"""

import hashlib

import numpy as np

_SEED_BITS = 63


def _hash(key: str, size: int, byteorder: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=size).digest(), byteorder)  # type: ignore[arg-type]


def derive(run_seed: int, *parts: int | str) -> int:
    """The 63-bit seed of the random stream named by ``parts`` (e.g. ``step, rank`` or ``epoch, caption_id, image``)."""
    return _hash(":".join(str(part) for part in (run_seed, *parts)), 8, "little") >> (64 - _SEED_BITS)


def generator(run_seed: int, *parts: int) -> np.random.Generator:
    """A numpy Generator for the random stream named by the integer ``parts`` (several draws from one key)."""
    return np.random.default_rng([run_seed, *parts])


def image_seeds(run_seed: int, caption_id: str, epoch: int, count: int) -> list[int]:
    """The initial-noise seeds of a caption's ``count`` images in generation ``epoch``, in image order."""
    return [
        _hash(f"synclr-image/{run_seed}/{epoch}/{caption_id}/{index}", 8, "big") >> (64 - _SEED_BITS)
        for index in range(count)
    ]


def shuffle_seed(run_seed: int, epoch: int) -> int:
    """The 32-bit seed of a downstream run's local shuffle in ``epoch`` (the same on every rank)."""
    return _hash(f"shuffle:{run_seed}:{epoch}", 4, "little")
