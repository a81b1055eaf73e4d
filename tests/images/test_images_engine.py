import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import ray
import torch

from synclr_ray import rows
from synclr_ray.config import load_config
from synclr_ray.images.encoding import decode_image
from synclr_ray.images.engine import ImageGenerator
from synclr_ray.pipeline import StreamControl
from synclr_ray.seeds import image_seeds

Rows = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def generator() -> Iterator[ImageGenerator]:
    # One thread, as in a 1-CPU Ray actor: on a busy 2-core machine more threads only contend.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ImageGenerator(
        load_config("tiny", ["images.resolution=32", "images.store_size=32", "images.num_inference_steps=2"])
    )
    torch.set_num_threads(threads)


def test_rows_keep_a_captions_images_together_and_are_reproducible(
    generator: ImageGenerator, caption_rows: Rows
) -> None:
    captions = rows.to_table(caption_rows(2), rows.CAPTION_SCHEMA)
    images, errors = generator.generate(captions)
    assert images.schema == rows.IMAGE_SCHEMA and errors.schema == rows.ERROR_SCHEMA and errors.num_rows == 0
    assert images["caption_id"].to_pylist() == ["cap-0000", "cap-0001"]
    for row in images.to_pylist():
        assert len(row["images"]) == len(row["seeds"]) == 4
        assert row["seeds"] == image_seeds(0, row["caption_id"], 0, 4)
        assert all(decode_image(data).size == (32, 32) for data in row["images"])
        assert (row["width"], row["height"]) == (32, 32)
        assert json.loads(row["generator"])["model"] == "builtin://tiny-sd15"
        assert row["concept"] == "red fox" and row["template"] == "c -> caption"
    # Same seeds, same pixels: the second caption drawn alone matches the batch it came from.
    alone, _ = generator.generate(captions.slice(1, 1))
    assert alone["images"][0].as_py() == images["images"][1].as_py()
    # A different image index starts from different noise and gives a different image.
    pixels = [np.asarray(decode_image(data), dtype=float) for data in images["images"][0].as_py()]
    assert min(np.abs(pixels[i] - pixels[j]).mean() for i in range(4) for j in range(i + 1, 4)) > 1.0


def test_later_epoch_draws_fresh_images(generator: ImageGenerator, caption_rows: Rows) -> None:
    [row] = caption_rows(1)
    epoch0, _ = generator.generate(rows.to_table([row], rows.CAPTION_SCHEMA))
    epoch1, _ = generator.generate(rows.to_table([{**row, "epoch": 1}], rows.CAPTION_SCHEMA))
    assert epoch1["seeds"][0].as_py() == image_seeds(0, "cap-0000", 1, 4) and epoch1["epoch"][0].as_py() == 1
    assert set(epoch0["images"][0].as_py()).isdisjoint(epoch1["images"][0].as_py())


def test_bad_captions_become_error_rows_and_spare_their_batch(generator: ImageGenerator, caption_rows: Rows) -> None:
    records = caption_rows(3)
    records[1]["caption"] = "   "
    records[2]["caption"] = None
    images, errors = generator.generate(rows.to_table(records, rows.CAPTION_SCHEMA))
    assert images["caption_id"].to_pylist() == ["cap-0000"]
    assert errors["caption_id"].to_pylist() == ["cap-0001", "cap-0002"]
    assert errors["error"].to_pylist() == ["caption is empty"] * 2


def test_as_a_ray_data_udf_dropped_captions_are_counted_by_reason(
    ray_cluster, generator: ImageGenerator, caption_rows: Rows, monkeypatch
) -> None:
    control = StreamControl.remote(None, None, 1000)
    monkeypatch.setattr(generator, "drops", control)
    records = caption_rows(3)
    records[0]["caption"] = records[2]["caption"] = " "
    images = generator(rows.to_table(records, rows.CAPTION_SCHEMA))
    assert images["caption_id"].to_pylist() == ["cap-0001"]
    assert ray.get(control.report.remote())["stages"]["images"]["dropped"] == {"caption is empty": 2}


def test_a_model_that_fails_on_every_caption_stops_the_run(caption_rows: Rows) -> None:
    # DDIM cannot take more steps than the model was trained with: every call fails, alone or not.
    broken = ImageGenerator(
        load_config("tiny", ["images.scheduler=ddim", "images.num_inference_steps=1001", "images.retries=0"])
    )
    with pytest.raises(RuntimeError, match="fails on every caption of a batch, alone too: ValueError"):
        broken.generate(rows.to_table(caption_rows(2), rows.CAPTION_SCHEMA))
