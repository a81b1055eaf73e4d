"""Segmentation as a downstream task: seeded augmentation, label reduction, sliding-window scoring."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from synclr_ray.config import load_config
from synclr_ray.encoder import load_encoder
from synclr_ray.segment.miou import IGNORE
from synclr_ray.segment.synthetic import draw_scene
from synclr_ray.segment.task import SegmentTask, load_pair, slide_logits


def _task(export: str, *overrides: str) -> SegmentTask:
    cfg = load_config("tiny", ["segment.crop_size=32", "segment.channels=16", *overrides])
    encoder = load_encoder(export)
    info = {**encoder.info, "depth": len(encoder.model.blocks)}
    return SegmentTask(cfg, export, info, num_classes=cfg.segment.num_classes)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _rows(count: int, size: int = 40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    scenes = [draw_scene(rng, size) for _ in range(count)]
    return {
        "id": np.array([f"train/{i}" for i in range(count)]),
        "image": np.array([_png(np.asarray(image)) for image, _ in scenes], dtype=object),
        "mask": np.array([_png(mask) for _, mask in scenes], dtype=object),
    }


def test_augmentation_is_a_function_of_seed_epoch_and_row(random_encoder):
    task, rows = _task(random_encoder), _rows(3)
    first, again, next_epoch = task.augment(rows, 0, 0), task.augment(rows, 0, 0), task.augment(rows, 0, 1)
    assert first["image"].shape == (3, 3, 32, 32) and first["mask"].shape == (3, 32, 32)
    assert np.array_equal(first["image"], again["image"]) and np.array_equal(first["mask"], again["mask"])
    assert not np.array_equal(first["image"], next_epoch["image"])
    assert set(np.unique(first["mask"])) <= {*range(7), IGNORE}


def test_labels_are_reduced_and_out_of_range_labels_name_the_row_and_field(random_encoder):
    cfg = _task(random_encoder, "segment.num_classes=4").section
    mask = np.array([[0, 1, 4], [2, 3, 255]], dtype=np.uint8)
    _, labels = load_pair(_png(np.zeros((2, 3, 3), np.uint8)), _png(mask), "val/a", cfg)
    assert labels.tolist() == [[IGNORE, 0, 3], [1, 2, IGNORE]]
    with pytest.raises(ValueError, match=r"segmentation pair val/b: label 5 outside segment.num_classes \(4"):
        load_pair(_png(np.zeros((2, 3, 3), np.uint8)), _png(np.full((2, 3), 6, np.uint8)), "val/b", cfg)


class _Constant(torch.nn.Module):
    """Logits that tell where a window started, to check the windows tile the image."""

    def forward(self, pixel_values: torch.Tensor):
        return type("Out", (), {"logits": pixel_values[:, :2] + 1.0})


def test_sliding_window_covers_every_pixel_and_averages_overlaps():
    image = torch.arange(70 * 50, dtype=torch.float32).reshape(1, 1, 70, 50).expand(1, 3, 70, 50)
    logits = slide_logits(_Constant(), image, crop=32, num_classes=2)
    assert logits.shape == (1, 2, 70, 50) and torch.allclose(logits, image[:, :2] + 1.0)
    small = slide_logits(_Constant(), image[..., :20, :24], crop=32, num_classes=2)  # padded to the crop
    assert torch.allclose(small, image[:, :2, :20, :24] + 1.0)


def test_prediction_sums_one_confusion_over_all_pixels_at_the_original_size(random_encoder):
    task, rows = _task(random_encoder), _rows(2, size=48)
    module = task.build().eval()
    with torch.inference_mode():
        out = task.predict(module, rows, torch.device("cpu"))
    labelled = sum(
        int((load_pair(i, m, "x", task.section)[1] != IGNORE).sum())
        for i, m in zip(rows["image"], rows["mask"], strict=True)
    )
    assert out["confusion"].shape == (1, 49) and out["confusion"].sum() == labelled
