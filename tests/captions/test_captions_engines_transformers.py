"""The transformers engine: batched, left-padded, seeded sampling of one line per prompt, in one actor."""

import numpy as np
import pytest

from synclr_ray.captions.engines.transformers import STOP, TransformersGenerator
from synclr_ray.config import load_config

PROMPTS = ["red circle =>", "a small blue square on grass, seen from above =>"]


@pytest.fixture(scope="module")
def generator() -> TransformersGenerator:
    return TransformersGenerator(load_config("tiny", ["captions.max_new_tokens=12"]).captions)


def test_sampling_is_seeded_by_the_batch_seed(generator):
    first = generator.complete(PROMPTS, seed=3)
    assert generator.complete(PROMPTS, seed=3) == first
    assert len(first) == 2 and all(isinstance(text, str) for text in first)
    assert any(generator.complete(PROMPTS, seed=s) != first for s in (4, 5, 6))  # the seed drives the sampling


def test_greedy_decoding_stops_at_the_first_line(generator):
    greedy = TransformersGenerator(
        load_config("tiny", ["captions.temperature=0", "captions.max_new_tokens=40"]).captions
    )
    assert greedy.sampling["do_sample"] is False
    texts = greedy.complete(PROMPTS, seed=0)
    assert all(STOP not in text.rstrip(STOP) for text in texts)  # nothing generated after a newline
    alone = greedy.complete(PROMPTS[1:], seed=0)
    assert alone == texts[1:]  # left padding: a prompt's greedy text does not depend on its batch


def test_a_ray_data_batch_gains_generated_text_seeded_by_its_first_row(generator):
    batch = {"prompt": np.array(PROMPTS, dtype=object), "seed": np.array([3, 99])}
    out = generator(batch)
    assert list(out["generated_text"]) == generator.complete(PROMPTS, seed=3)
