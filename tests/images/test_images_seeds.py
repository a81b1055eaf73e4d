from synclr_ray.images.seeds import caption_seeds, image_seed


def test_seed_is_a_pure_function_of_its_inputs() -> None:
    assert image_seed(0, "cap-1", 0, 2) == image_seed(0, "cap-1", 0, 2)
    assert caption_seeds(0, "cap-1", 0, 4) == [image_seed(0, "cap-1", 0, i) for i in range(4)]


def test_every_input_changes_the_seed() -> None:
    base = image_seed(0, "cap-1", 0, 0)
    variants = [
        image_seed(1, "cap-1", 0, 0),
        image_seed(0, "cap-2", 0, 0),
        image_seed(0, "cap-1", 1, 0),
        image_seed(0, "cap-1", 0, 1),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_seeds_fit_int64_and_torch_generators() -> None:
    seeds = [image_seed(7, f"cap-{i}", e, k) for i in range(200) for e in range(2) for k in range(4)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert len(set(seeds)) == len(seeds)
