"""The engine contract: rows with ``prompt`` and ``seed`` in, the same rows plus ``generated_text`` out, lazily."""

import ray

from synclr_ray.captions.engines import generate
from synclr_ray.config import load_config


def test_the_transformers_engine_adds_generated_text_and_keeps_every_column(ray_cluster):
    cfg = load_config("tiny", ["captions.engine=transformers", "captions.max_new_tokens=6", "captions.batch_size=2",
                               "ray.progress_bars=false"])  # fmt: skip
    rows = [{"caption_id": f"c{i}", "prompt": f"{colour} circle =>", "seed": i}
            for i, colour in enumerate(["red", "blue", "green"])]  # fmt: skip
    ds = generate(ray.data.from_items(rows), cfg, ["caption_id", "prompt", "seed"])
    out = sorted(ds.take_all(), key=lambda row: row["caption_id"])
    assert [row["caption_id"] for row in out] == ["c0", "c1", "c2"]
    assert [row["prompt"] for row in out] == [row["prompt"] for row in rows]
    assert all(isinstance(row["generated_text"], str) for row in out)
