import pytest
import torch

from synclr_ray.config import load_config
from synclr_ray.downstream.optim import layer_decay_groups
from synclr_ray.encoder import load_encoder
from synclr_ray.segment.miou import IGNORE
from synclr_ray.segment.model import FeaturePyramid, quarter_blocks
from synclr_ray.segment.task import SegmentTask


def _task(export: str, *overrides: str) -> SegmentTask:
    cfg = load_config("tiny", ["segment.crop_size=32", "segment.channels=16", *overrides])
    encoder = load_encoder(export)
    info = {**encoder.info, "depth": len(encoder.model.blocks)}
    return SegmentTask(cfg, export, info, num_classes=cfg.segment.num_classes)


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
