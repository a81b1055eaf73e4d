"""Fixtures for evaluation tests: a tiny random ViT export and tiny ImageFolder trees."""

import io

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from synclr_ray import storage
from synclr_ray.encoder import export_encoder

COLOURS = {"blue": (20, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny ViT (32 px, patch 8, depth 2) with seeded random weights, exported like a trained encoder."""
    torch.manual_seed(123)
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_heads=3, num_classes=0)
    return export_encoder(model, str(tmp_path_factory.mktemp("export")), image_size=32)


def colour_image(colour: tuple[int, int, int], rng: np.random.Generator, size: int = 40) -> bytes:
    """A noisy solid-colour PNG: classes separable by colour, images distinct within a class."""
    pixels = np.clip(np.array(colour) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def write_image_folder(root: str, sizes: dict[str, int], seed: int = 0) -> str:
    """An ImageFolder tree at ``root`` (local or s3://): ``sizes[split]`` images per colour class."""
    rng = np.random.default_rng(seed)
    for split, per_class in sizes.items():
        for name, colour in COLOURS.items():
            for i in range(per_class):
                storage.write_bytes(storage.join(root, split, name, f"{i:03d}.png"), colour_image(colour, rng))
    return root


@pytest.fixture(scope="session")
def image_folder_writer():
    """`write_image_folder`, for tests that build their own trees."""
    return write_image_folder


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local ImageFolder: 3 colour classes, 12 train and 6 test images per class."""
    return write_image_folder(str(tmp_path_factory.mktemp("colours") / "data"), {"train": 12, "test": 6})


@pytest.fixture(scope="session")
def colour_features(ray_cluster, tiny_export: str, colour_folder: str):
    """Features of `colour_folder` from the tiny export and its seed-7 baseline, in batches of 16."""
    from synclr_ray.config.eval import EvalConfig
    from synclr_ray.eval.datasets import load_dataset
    from synclr_ray.eval.features import extract_features

    cfg = EvalConfig(batch_size=16, num_gpus=0, pool={"min_size": 1, "max_size": 1})
    return extract_features(load_dataset(colour_folder).rows, tiny_export, cfg, baseline_seed=7)
