from collections import Counter

import pytest

from synclr_ray import rows
from synclr_ray.captions.concepts import load_catalog
from synclr_ray.captions.pools import POOLS, SEPARATOR, load_pool
from synclr_ray.captions.prompts import INSTRUCTIONS, NUM_EXAMPLES, RELATIONS, PromptPlanner, background_prompt
from synclr_ray.config import load_config


@pytest.fixture(scope="module")
def planner():
    cfg = load_config("paper-vitb16")
    table = {"tench": ("a muddy pond",)}
    return PromptPlanner(cfg.captions, 7, load_catalog(cfg.captions), table, {"default": ("a generic place",)})


def _parts(prompt):
    return prompt.split("\n\n")


def test_prompt_format_has_instruction_three_examples_and_open_query(planner):
    for index in range(200):
        row = planner.plan(index)
        instruction, *examples, query = _parts(row["prompt"])
        assert instruction == INSTRUCTIONS[(row["template"], _group(planner, row))]
        assert len(examples) == NUM_EXAMPLES and len(set(examples)) == NUM_EXAMPLES
        assert all(SEPARATOR in e and "\n" not in e for e in examples)
        assert query.startswith(row["concept"]) and query.endswith(" =>")


def _group(planner, row):
    return next(s.group for s in planner.sources if s.name == row["concept_source"])


def test_template_rules(planner):
    rows = [planner.plan(i) for i in range(3000)]
    for row in rows:
        query = _parts(row["prompt"])[-1].removesuffix(" =>")
        pool = set(load_pool({"c": f"c_{_group(planner, row)}"}.get(row["template"], row["template"])))
        assert set(_parts(row["prompt"])[1:-1]) <= pool
        if _group(planner, row) != "object":
            assert row["template"] == "c"
        if row["template"] == "c_rel":
            assert query.removeprefix(row["concept"] + ", ") in RELATIONS
        if row["template"] == "c_bg":
            bg = query.removeprefix(row["concept"] + ", ")
            assert bg and bg != query
            if row["concept"] == "tench":
                assert bg == "a muddy pond"  # a concept's own list beats the generic fallback
    assert {r["template"] for r in rows} == {"c", "c_bg", "c_rel"}


def test_planning_is_deterministic_per_index(planner):
    assert planner.plan(12345) == planner.plan(12345)
    assert planner.plan(1)["caption_id"] != planner.plan(2)["caption_id"]
    table = planner({"id": [0, 1]}, offset=10)
    assert table.schema == rows.PROMPT_SCHEMA and table["epoch"].to_pylist() == [0, 0]
    assert table["caption_id"].to_pylist() == [planner.plan(10)["caption_id"], planner.plan(11)["caption_id"]]
    later = planner.table([10], epochs=[3])
    assert later["epoch"].to_pylist() == [3] and later["prompt"].to_pylist() == table["prompt"].to_pylist()[:1]


def test_sampling_proportions_follow_the_config(planner):
    n = 6000
    rows = [planner.plan(i) for i in range(n)]
    sources = Counter(r["concept_source"] for r in rows)
    weights = planner.source_p
    for source, p in zip(planner.sources, weights, strict=True):
        assert abs(sources[source.name] / n - p) < 0.02 + 0.1 * p, source.name
    objects = [r for r in rows if _group(planner, r) == "object"]
    templates = Counter(r["template"] for r in objects)
    for template, share in {"c": 0.44, "c_bg": 0.45, "c_rel": 0.11}.items():
        assert abs(templates[template] / len(objects) - share) < 0.03, template


def test_pools_have_the_recipe_sizes_and_format():
    sizes = {name: len(load_pool(name)) for name in POOLS}
    assert sizes["c_object"] >= 50 and sizes["c_place"] >= 30 and sizes["c_texture"] >= 20
    assert sizes["c_object"] + sizes["c_place"] + sizes["c_texture"] >= 100
    assert sizes["c_bg"] >= 50 and sizes["c_rel"] >= 20
    for name in POOLS:
        pool = load_pool(name)
        assert len(set(pool)) == len(pool), name
        for line in pool:
            query, completion = line.split(SEPARATOR)
            assert query and completion, line
            if name == "c_rel":
                assert query.split(", ", 1)[1] in RELATIONS
            if name == "c_bg":
                assert len(query.split(", ")) >= 2


def test_background_prompt_uses_its_pool():
    prompt = background_prompt("tiger", 3)
    instruction, *examples, query = _parts(prompt)
    assert len(examples) == NUM_EXAMPLES and set(examples) <= set(load_pool("backgrounds"))
    assert query == "tiger =>"
