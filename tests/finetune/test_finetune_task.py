import io
from pathlib import Path

import numpy as np
import pytest
import torch
from exports import random_export
from PIL import Image

from synclr_ray import exports
from synclr_ray.config import load_config
from synclr_ray.downstream.optim import layer_decay_groups
from synclr_ray.encoder import load_encoder
from synclr_ray.finetune.task import FinetuneTask


def _task(export: str, *overrides: str) -> FinetuneTask:
    cfg = load_config("tiny", ["finetune.drop_path=0.2", *overrides])
    return FinetuneTask(cfg, export, load_encoder(export).info, num_classes=5)


def _rows(count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return {"id": np.array([f"r{i}" for i in range(count)]), "image": np.array(images, dtype=object),
            "label": np.arange(count) % 5}  # fmt: skip


def test_model_starts_from_the_export_with_a_new_head_and_stochastic_depth(random_encoder):
    module = _task(random_encoder).build()
    exported = load_encoder(random_encoder).model.state_dict()
    state = module.model.state_dict()
    assert all(torch.equal(state[name], value) for name, value in exported.items())
    assert module.model.head.out_features == 5 and module.model.global_pool == "token"
    assert module.model.blocks[-1].drop_path1.drop_prob == pytest.approx(0.2)
    assert module.ema is not None and not any(p.requires_grad for p in module.ema.parameters())
    assert _task(random_encoder, "finetune.ema_decay=0").build().ema is None


def test_an_export_root_is_pinned_to_its_latest_version(random_encoder, tmp_path):
    root = str(tmp_path / "export")
    first = exports.publish(Path(random_encoder), root, step=1)
    task = _task(root)
    random_export(str(tmp_path / "other"), seed=7)
    exports.publish(tmp_path / "other", root, step=2)  # `latest` moves on; the task keeps its version
    assert task.export_uri == first
    exported = load_encoder(random_encoder).model.state_dict()
    assert all(torch.equal(task.build().model.state_dict()[name], value) for name, value in exported.items())


def test_layer_decay_scales_rise_towards_the_head_and_cover_every_parameter_once(random_encoder):
    task = _task(random_encoder)
    module = task.build()
    model = task.trained(module)
    groups = layer_decay_groups(model, task.encoder(module), weight_decay=0.05, layer_decay=0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(ids) == len(set(ids))
    scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert scale_of[id(model.head.weight)] == 1.0
    blocks = [scale_of[id(block.attn.qkv.weight)] for block in model.blocks]
    assert blocks == sorted(blocks) and blocks[-1] == pytest.approx(0.5) and blocks[0] == pytest.approx(0.5**4)
    assert scale_of[id(model.patch_embed.proj.weight)] == pytest.approx(0.5**5)
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert decay_of[id(model.blocks[0].norm1.weight)] == 0.0 and decay_of[id(model.blocks[0].attn.qkv.weight)] == 0.05


def test_augmentation_is_a_function_of_seed_epoch_and_row(random_encoder):
    task, rows = _task(random_encoder), _rows(4)
    first, again, other = task.augment(rows, 0, 3), task.augment(rows, 0, 3), task.augment(rows, 0, 4)
    assert first["image"].shape == (4, 3, 32, 32) and first["image"].dtype == np.float16
    assert np.array_equal(first["image"], again["image"]) and not np.array_equal(first["image"], other["image"])
    assert first["label"].tolist() == [0, 1, 2, 3]


def test_mixup_loss_and_its_even_batch_rule(random_encoder):
    task = _task(random_encoder)
    model = task.trained(task.build()).train()
    batch = {k: torch.from_numpy(v) for k, v in task.augment(_rows(4), 0, 0).items()}
    loss = task.loss(model, batch, torch.device("cpu"))
    assert loss.ndim == 0 and torch.isfinite(loss)
    with pytest.raises(ValueError, match=r"even batch per worker, got 3 \(finetune.batch_size\)"):
        task.loss(model, {k: v[:3] for k, v in batch.items()}, torch.device("cpu"))
    plain = _task(random_encoder, "finetune.mixup=0", "finetune.cutmix=0", "finetune.label_smoothing=0")
    model.eval()  # no drop path: the same logits twice
    logits = model(batch["image"].float())
    expected = torch.nn.functional.cross_entropy(logits, batch["label"])
    assert plain.loss(model, batch, torch.device("cpu")).item() == pytest.approx(expected.item(), rel=1e-5)


def test_the_ema_follows_the_model_after_each_step(random_encoder):
    task = _task(random_encoder, "finetune.ema_decay=0.5")
    module = task.build()
    before = module.ema.module.head.weight.clone()
    with torch.no_grad():
        module.model.head.weight.add_(1.0)
    task.after_step(module)
    assert torch.allclose(module.ema.module.head.weight, before + 0.5, atol=1e-6)


def test_predictions_of_the_model_and_its_ema(random_encoder):
    task = _task(random_encoder)
    module = task.build().eval()
    with torch.inference_mode():
        out = task.predict(module, _rows(3), torch.device("cpu"))
    assert set(out) == {"label", "model", "ema"} and out["model"].shape == (3,) and out["label"].tolist() == [0, 1, 2]


def test_randaugment_policy_survives_its_strongest_magnitude(random_encoder):
    from timm.data.auto_augment import rand_augment_transform

    policy = rand_augment_transform(_task(random_encoder).section.auto_augment, {})
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    for op in policy.ops:
        op.prob, op.magnitude, op.magnitude_std = 1.0, op.magnitude_max or 10, 0.0  # timm: 10 unless capped
        assert op(image).size == (32, 32), op.name
