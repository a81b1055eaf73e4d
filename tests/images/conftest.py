"""Helpers for the image stage tests: committed caption files, the tiny config at test size."""

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from PIL import Image

from synclr_ray import rows
from synclr_ray.config import Config, load_config
from synclr_ray.images.encoding import encode_image

TEST_OVERRIDES = (
    "images.resolution=32",
    "images.store_size=32",
    "images.num_inference_steps=2",
    "images.shard_captions=2",
    "images.batch_size=2",
    "ray.progress_bars=false",
)


@pytest.fixture
def images_config() -> Callable[..., Config]:
    """``images_config("images.retries=0", ...)``: the tiny preset at test size (32 px, 2 steps, 2 captions per shard)."""

    def make(*overrides: str) -> Config:
        return load_config("tiny", [*TEST_OVERRIDES, *overrides])

    return make


def _caption_rows(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "caption_id": f"cap-{i:04d}",
            "index": i,
            "epoch": 0,
            "caption": f"a photo of a red fox number {i} in a snowy forest",
            "concept": "red fox",
            "concept_source": "imagenet-1k",
            "template": "c -> caption",
            "seed": i,
        }
        for i in range(start, start + count)
    ]


@pytest.fixture
def caption_rows() -> Callable[..., list[dict[str, Any]]]:
    """``caption_rows(count, start=0)``: caption rows (`rows.CAPTION_SCHEMA`) as dicts."""
    return _caption_rows


@pytest.fixture
def write_captions() -> Callable[[str, str, list[dict[str, Any]]], str]:
    """``write_captions(folder, name, rows)``: one committed caption file ``folder/<name>.parquet``, local or s3://."""

    def write(folder: str, name: str, records: list[dict[str, Any]]) -> str:
        return rows.write_rows(folder, name, rows.to_table(records, rows.CAPTION_SCHEMA), rows.CAPTION_SCHEMA)

    return write


@pytest.fixture
def image_rows() -> Callable[..., pa.Table]:
    """``image_rows(count, colours)``: image rows whose images are solid colours (no model needed)."""

    def make(count: int, colours: list[tuple[int, int, int]]) -> pa.Table:
        images = [encode_image(Image.new("RGB", (32, 32), colour), 32, "jpeg", 95) for colour in colours]
        captions = [
            {**row, "caption": f"caption number {i} " + "long words " * 30}
            for i, row in enumerate(_caption_rows(count))
        ]
        return rows.to_table(
            [{**row, "images": images, "seeds": list(range(len(colours))), "width": 32, "height": 32, "generator": "{}"}
             for row in captions],
            rows.IMAGE_SCHEMA,
        )  # fmt: skip

    return make
