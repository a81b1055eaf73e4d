"""Seed derivation: pure functions of the run seed and named parts, pinned to the values existing run roots hold."""

import numpy as np
import pytest
import torch

from synclr_ray.seeds import derive, generator, image_seeds, shuffle_seed

# Pinned: computed with the code before synclr_ray/seeds.py existed (images/seeds.py image_seed,
# train/loop.py step_seed, train/ingest.py crop_seed, downstream/batches.py epoch_seed, and
# np.random.default_rng([run_seed, ...]) in captions/prompts.py and train/order.py), so runs
# resumed on existing roots draw what they drew before. A change here needs a rows.FORMAT_VERSION bump.
PINNED_IMAGE_SEEDS = [
    ((0, "s0-000000000000", 0), 0, 8515633080849401426),
    ((7, "s7-000000000042", 3), 2, 8466373032335808866),
]
PINNED_DERIVED = [
    ((0, 0, 0), 9044811311333822937),  # training step 0, rank 0: drop path
    ((7, 1234, 3), 2301023490239505253),  # step 1234, rank 3
    ((0, 0, "masks"), 4541173417590298594),  # iBOT masks of the global batch of step 0
    ((7, 1234, "masks"), 3651341318171187721),
    ((0, 0, "s0-000000000000", 0), 2265756249431860950),  # crops: epoch 0, caption, image 0
    ((7, 3, "s7-000000000042", 2), 6846415209021812306),
    ((5, 1, 17, 0), 6177508436653279646),  # a downstream row's augmentation (integer row id)
]
PINNED_SHUFFLES = [((0, 0), 2663597976), ((7, 3), 785867025)]
PINNED_GENERATORS = [((0, 0), 5874934615388537134), ((7, 42), 5821469715124151256), ((7, 3, 5), 452882084672932210)]


@pytest.mark.parametrize(("key", "index", "value"), PINNED_IMAGE_SEEDS)
def test_image_seeds_keep_the_values_stored_in_image_rows(key, index, value):
    assert image_seeds(*key, count=index + 1)[index] == value


@pytest.mark.parametrize(("parts", "value"), PINNED_DERIVED)
def test_derived_seeds_keep_their_values(parts, value):
    assert derive(*parts) == value


@pytest.mark.parametrize(("parts", "value"), PINNED_SHUFFLES)
def test_shuffle_seeds_keep_their_values(parts, value):
    assert shuffle_seed(*parts) == value


@pytest.mark.parametrize(("parts", "value"), PINNED_GENERATORS)
def test_generators_keep_their_streams(parts, value):
    assert int(generator(*parts).integers(2**63 - 1)) == value


def test_every_part_changes_the_seed():
    base = derive(0, 1, "cap-1", 0)
    variants = [derive(1, 1, "cap-1", 0), derive(0, 2, "cap-1", 0), derive(0, 1, "cap-2", 0), derive(0, 1, "cap-1", 1)]
    assert base not in variants and len(set(variants)) == len(variants)
    images = image_seeds(0, "cap-1", 0, 4)
    assert len(set(images)) == 4 and image_seeds(0, "cap-1", 1, 4)[0] not in images  # a later epoch: fresh noise


def test_seeds_fit_int64_columns_and_torch_generators():
    seeds = [s for i in range(200) for e in range(2) for s in image_seeds(7, f"cap-{i}", e, 4)]
    seeds += [derive(7, step, rank) for step in range(200) for rank in range(4)]
    assert all(0 <= s < 2**63 for s in seeds) and len(set(seeds)) == len(seeds)
    torch.Generator().manual_seed(max(seeds))
    assert all(0 <= shuffle_seed(3, e) < 2**32 for e in range(100))
    assert isinstance(generator(1, 2), np.random.Generator)
