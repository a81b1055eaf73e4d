import pytest
import torch
from timm.layers import DropPath

from synclr_ray.train.masking import MaskGenerator
from synclr_ray.train.objective import LOSS_TERMS, SynCLR

SMALL = (
    "crops.global_size=32",
    "crops.local_size=16",
    "crops.num_local=2",
    "backbone.kwargs.depth=2",
    "backbone.kwargs.embed_dim=48",
    "heads.proj_hidden=64",
    "heads.pred_hidden=64",
    "heads.ibot_hidden=64",
    "heads.prototypes=32",
)
BATCH = 8  # 2 captions x 4 images


def batch(model: SynCLR, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    crops = model.cfg.crops
    local = (
        torch.randn(BATCH * crops.num_local, 3, crops.local_size, crops.local_size, generator=g)
        if crops.num_local
        else None
    )
    masks = MaskGenerator(model.cfg.mask, model.grid)(BATCH, g) if model.cfg.loss.ibot else None
    return {
        "global_crops": torch.randn(BATCH, 3, crops.global_size, crops.global_size, generator=g),
        "local_crops": local,
        "labels": torch.arange(BATCH) // 4,
        "masks": masks,
        "teacher_temp": 0.04,
    }


@pytest.fixture(scope="module")
def model(request) -> SynCLR:
    from synclr_ray.config import load_config

    torch.manual_seed(0)
    return SynCLR(load_config("tiny", [f"train.{o}" for o in SMALL]).train)


def test_forward_backward_full_objective(model):
    inputs = batch(model)
    assert inputs["masks"].any()
    out = model(**inputs)
    assert set(out) == {"loss", *LOSS_TERMS}
    assert all(torch.isfinite(value) and value > 0 for value in out.values())
    torch.testing.assert_close(out["loss"], sum(out[name] for name in LOSS_TERMS))
    model.zero_grad()
    out["loss"].backward()
    assert model.mask_token.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    # DDP without find_unused_parameters needs every trainable parameter in the graph.
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_permuting_images_with_their_crops_leaves_loss_unchanged(model):
    """Catches the crop-major trap: local crops are image-major, so local crop i*n+j carries image i's caption."""
    inputs = batch(model, seed=1)
    inputs["labels"] = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])  # images of a caption are not adjacent
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    n = model.cfg.crops.num_local
    permuted = dict(inputs)
    for name in ("global_crops", "labels", "masks"):
        permuted[name] = inputs[name][perm]
    permuted["local_crops"] = inputs["local_crops"].view(BATCH, n, *inputs["local_crops"].shape[1:])[perm].flatten(0, 1)
    with torch.no_grad():
        before, after = model(**inputs), model(**permuted)
    for name in LOSS_TERMS:
        torch.testing.assert_close(before[name], after[name], rtol=1e-4, atol=1e-5)


def test_teacher_starts_as_student_and_follows_ema(model):
    student, teacher = model.student.state_dict(), model.teacher.state_dict()
    assert student.keys() == teacher.keys()
    snapshot = {k: v.clone() for k, v in teacher.items()}
    with torch.no_grad():
        for param in model.student.parameters():
            param.add_(0.01)
    model.update_teacher(1.0)
    assert all(torch.equal(model.teacher.state_dict()[k], v) for k, v in snapshot.items())
    model.update_teacher(0.0)
    for (name, t), s in zip(model.teacher.named_parameters(), model.student.parameters(), strict=True):
        assert torch.equal(t, s), name
    assert model.teacher_backbone is model.teacher["backbone"] and model.student_backbone is model.student["backbone"]


def test_param_groups_split_decay(model):
    groups = model.param_groups()
    decayed = {id(p) for g in groups if g["apply_wd"] for p in g["params"]}
    plain = {id(p) for g in groups if not g["apply_wd"] for p in g["params"]}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert decayed | plain == trainable and not decayed & plain
    for name, param in model.named_parameters():
        if id(param) in plain:
            assert param.ndim <= 1 or name.endswith(("pos_embed", "cls_token", "mask_token")), name
    assert id(model.student_backbone.blocks[0].attn.qkv.weight) in decayed
    assert id(model.mask_token) in plain and id(model.student_backbone.pos_embed) in plain
    assert all(g["weight_decay"] == (0.04 if g["apply_wd"] else 0.0) for g in groups)


@pytest.mark.parametrize(
    "overrides",
    [
        ("loss.ema_teacher=false",),
        ("loss.ibot=false", "backbone.drop_path=0.1"),
        ("crops.num_local=0",),
        ("loss.positives=image",),
        ("loss.ema_teacher=false", "loss.ibot=false", "crops.num_local=0", "loss.positives=image"),
    ],
)
def test_ablation_switches(train_config, overrides):
    torch.manual_seed(0)
    cfg = train_config(*SMALL, *overrides)
    model = SynCLR(cfg)
    out = model(**batch(model))
    out["loss"].backward()
    assert all(torch.isfinite(v) for v in out.values())
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert out["contrastive_global"] > 0
    assert (out["ibot"] > 0) == cfg.loss.ibot and (model.mask_token is not None) == cfg.loss.ibot
    assert (out["contrastive_local"] > 0) == (cfg.crops.num_local > 0)
    if cfg.backbone.drop_path:  # the student is regularised, the teacher never is
        assert isinstance(model.student_backbone.blocks[-1].drop_path1, DropPath)
        assert isinstance(model.teacher_backbone.blocks[-1].drop_path1, torch.nn.Identity)
    if not cfg.loss.ema_teacher:
        assert model.teacher is None and model.teacher_backbone is model.student_backbone
        assert not any(key.startswith("teacher") for key in model.state_dict())
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.update_teacher(0.5)
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_bad_inputs_fail_with_clear_errors(train_config):
    model = SynCLR(train_config(*SMALL, "loss.ibot=false"))
    inputs = batch(model)
    with pytest.raises(ValueError, match="labels"):
        model(**{**inputs, "labels": torch.arange(3)})
    with pytest.raises(ValueError, match="num_local"):
        model(**{**inputs, "local_crops": inputs["local_crops"][:3]})
    with pytest.raises(ValueError, match="ibot is off"):
        model(**{**inputs, "masks": torch.zeros(BATCH, 16, dtype=torch.bool)})
