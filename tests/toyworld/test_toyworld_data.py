"""builtin://toyworld: the caption stage's concept list and background table, and the probe sets, all read by URI."""

import os
from pathlib import Path

from synclr_ray import storage
from synclr_ray.captions.stage import prompt_planner
from synclr_ray.config import load_config
from synclr_ray.eval.datasets import load_dataset
from synclr_ray.toyworld.catalog import ATTRIBUTES, WORLD, WORLD_ATTRIBUTES, concepts
from synclr_ray.toyworld.data import PROBE_IMAGES, PROBE_TRAIN_FRACTION


def test_the_tiny_preset_captions_toy_concepts_on_the_worlds_background():
    planner = prompt_planner(load_config("tiny"), None)
    assert [(s.name, s.group, list(s.concepts)) for s in planner.sources] == [("toyworld", "object", concepts())]
    rows = [planner.plan(i) for i in range(200)]
    assert {r["concept"] for r in rows} <= set(concepts()) and {r["template"] for r in rows} == {"c", "c_bg"}
    for row in rows:
        query = row["prompt"].rsplit("\n", 1)[1]
        if row["template"] == "c_bg":
            concept, background = query.removesuffix(" =>").split(", ")
            assert concept == row["concept"] and background == WORLD["background"]
        else:
            assert query == f"{row['concept']} =>"


def test_probe_sets_are_image_folders_of_the_same_renders_labelled_by_each_attribute_of_the_world(ray_cluster):
    train = round(PROBE_IMAGES * PROBE_TRAIN_FRACTION)
    files: dict[str, dict[str, tuple[str, int]]] = {}
    assert WORLD_ATTRIBUTES == ("shape", "colour", "size")
    for attribute in WORLD_ATTRIBUTES:
        data = load_dataset(f"builtin://toyworld/probe/{attribute}")
        assert data.classes == sorted(str(v) for v in ATTRIBUTES[attribute])
        assert data.split_sizes == {"train": train, "test": PROBE_IMAGES - train}
        root = storage.local_copy(f"builtin://toyworld/probe/{attribute}")
        files[attribute] = {p.name: (p.parent.parent.name, os.stat(p).st_ino) for p in Path(root).rglob("*.png")}
    # Every attribute labels the same images (one file, hard-linked) in the same split.
    assert len({frozenset(by_name.items()) for by_name in files.values()}) == 1
    rows = load_dataset("builtin://toyworld/probe/shape").rows.take(3)
    assert not (Path(storage.local_copy("builtin://toyworld")) / "probe" / "count").exists()  # the world has one
    assert {row["split"] for row in rows} <= {"train", "test"} and all(row["image"][:4] == b"\x89PNG" for row in rows)
