import io

import numpy as np
import pytest
import torch
from PIL import Image

from synclr_ray.config import load_config
from synclr_ray.downstream.optim import layer_decay_groups
from synclr_ray.encoder import load_encoder
from synclr_ray.segment.miou import IGNORE
from synclr_ray.segment.model import FeaturePyramid, quarter_blocks
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


def test_quarter_blocks():
    assert (
        quarter_blocks(12) == [2, 5, 8, 11]
        and quarter_blocks(24) == [5, 11, 17, 23]
        and quarter_blocks(2) == [0, 0, 1, 1]
    )


def test_pyramid_rescales_by_4_2_1_and_half():
    maps = tuple(torch.randn(2, 8, 4, 4) for _ in range(4))
    assert [m.shape[-1] for m in FeaturePyramid(8)(maps)] == [16, 8, 4, 2]


def test_upernet_holds_the_export_weights_and_predicts_every_pixel(random_encoder):
    task = _task(random_encoder)
    module = task.build().eval()
    exported = load_encoder(random_encoder).model.state_dict()
    for name, value in task.encoder(module).state_dict().items():
        if name != "pos_embed":  # resampled from the export's 32 px grid: same size here, still equal
            assert torch.equal(value, exported[name]), name
    out = module(pixel_values=torch.randn(2, 3, 32, 32), labels=torch.randint(0, 7, (2, 32, 32)))
    assert out.logits.shape == (2, 7, 32, 32) and out.loss.ndim == 0


def test_layer_decay_puts_the_heads_one_layer_above_the_last_block(random_encoder):
    task = _task(random_encoder)
    module = task.build()
    groups = layer_decay_groups(module, task.encoder(module), weight_decay=0.05, layer_decay=0.5)
    scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert len(scale_of) == sum(p.requires_grad for p in module.parameters())
    assert (
        scale_of[id(module.upernet.decode_head.classifier.weight)] == 1.0
        and scale_of[id(module.neck.scales[1].weight)] == 1.0
    )
    blocks = [scale_of[id(block.attn.qkv.weight)] for block in task.encoder(module).blocks]
    assert blocks == pytest.approx([0.5**4, 0.5**3, 0.5**2, 0.5])


def test_frozen_encoder_gets_no_gradient_and_stays_in_eval_mode(random_encoder):
    module = _task(random_encoder, "segment.freeze_encoder=true").build().train()
    module(pixel_values=torch.randn(2, 3, 32, 32), labels=torch.randint(0, 7, (2, 32, 32))).loss.backward()
    assert all(p.grad is None for p in module.encoder.parameters()) and not module.encoder.training
    assert module.neck.scales[1].weight.grad is not None


def test_linear_head_ignores_unlabelled_pixels(random_encoder):
    module = _task(random_encoder, "segment.head=linear").build().train()
    labels = torch.full((2, 32, 32), IGNORE)
    labels[:, :4, :4] = 1
    pixels = torch.randn(2, 3, 32, 32)
    loss = module(pixel_values=pixels, labels=labels).loss
    logits = module.eval()(pixel_values=pixels).logits
    assert logits.shape == (2, 7, 32, 32) and torch.isfinite(loss)
    assert not any(p.requires_grad for p in module.encoder.parameters())


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
