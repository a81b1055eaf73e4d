"""Caption summaries computed per block on Ray workers and summed on the driver."""

import ray

from synclr_ray.captions.stats import count_by, length_stats, merge_lengths


def test_counts_and_lengths_over_several_blocks_equal_a_plain_count(ray_cluster):
    rows = [
        {"caption": " ".join(["w"] * (1 + i % 7)), "concept_source": ["imagenet1k", "dtd"][i % 2], "template": "c"}
        for i in range(50)
    ]
    ds = ray.data.from_items(rows, override_num_blocks=5)
    assert count_by(ds, "concept_source", "template") == {"dtd/c": 25, "imagenet1k/c": 25}
    words = [len(row["caption"].split()) for row in rows]
    assert length_stats(ds) == {"n": 50, "sum": sum(words), "min": min(words), "max": max(words)}


def test_merging_lengths_keeps_the_extremes_and_ignores_empty_sides():
    empty = {"n": 0, "sum": 0, "min": None, "max": None}
    a = {"n": 2, "sum": 9, "min": 4, "max": 5}
    b = {"n": 1, "sum": 12, "min": 12, "max": 12}
    assert merge_lengths(a, b) == {"n": 3, "sum": 21, "min": 4, "max": 12}
    assert merge_lengths(empty, a) == a and merge_lengths(a, empty) == a
