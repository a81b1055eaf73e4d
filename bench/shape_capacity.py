"""How fast can a backbone learn the toy world's shapes when it is given the labels?

Supervised training on renders is the upper bound of what any self-supervised objective can teach
a backbone about shape in the same number of steps: if a backbone does not learn shape from shape
labels within the budget, the SynCLR objective (which must first find out that shape matters)
will not either. Each backbone is trained from scratch with cross-entropy on shape labels
(AdamW, one-cycle schedule, batch 64) on renders of scenes drawn uniformly from the catalog (or
with some attributes fixed), and tested on held-out renders. Printed per backbone, side by side:
the linear probe of its random-init features (the toy-world probe's baseline) and the supervised
held-out accuracy along training.

    .venv/bin/python bench/shape_capacity.py [--steps 300] [--fix size=large count=1]
        [--backbone NAME '{"timm": "kwargs"}' LR ...]
"""

import argparse
import json
import time

import numpy as np
import timm
import torch

from synclr_ray.config import load_config
from synclr_ray.eval.linear_probe import linear_probe
from synclr_ray.toyworld import ATTRIBUTES, render, sample_scene
from synclr_ray.toyworld.catalog import parse_attributes
from synclr_ray.train.backbone import backbone_model_args

SIZE = 64
BATCH = 64


def renders(count: int, seed: int, fixed: dict[str, str | int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` normalised renders of random scenes and their shape labels."""
    rng = np.random.default_rng(seed)
    pixels, labels = [], []
    for _ in range(count):
        scene = sample_scene(rng, **fixed)
        pixels.append(np.asarray(render(scene, SIZE, rng).image))
        labels.append(ATTRIBUTES["shape"].index(scene.shape))
    images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 255
    return (images - 0.5) / 0.25, torch.tensor(labels)


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, features: bool = False) -> torch.Tensor:
    """Logits (or pre-logit features) in chunks, in eval mode."""
    model.eval()
    outputs = [
        model.forward_head(model.forward_features(chunk), pre_logits=True) if features else model(chunk)
        for chunk in images.split(100)
    ]
    return torch.cat(outputs)


def measure(name: str, kwargs: dict, lr: float, data: tuple, steps: int, seed: int, probe_cs: list[float]) -> dict:
    """Random-init linear probe, then supervised held-out accuracy every quarter of ``steps``."""
    (train_x, train_y), (test_x, test_y) = data
    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False, num_classes=len(ATTRIBUTES["shape"]), **kwargs)
    features, labels = predict(model, test_x, features=True).numpy(), test_y.numpy()
    half = len(labels) // 2
    baseline = linear_probe((features[:half], labels[:half]), (features[half:], labels[half:]), probe_cs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.1)
    order = torch.Generator().manual_seed(seed)
    curve, started = {}, time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        batch = torch.randint(0, len(train_y), (BATCH,), generator=order)
        loss = torch.nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % max(steps // 4, 1) == 0 or step == steps:
            curve[step] = (predict(model, test_x).argmax(1) == test_y).float().mean().item()
            print(f"  {name} step {step}: loss {loss.item():.3f}, held-out {100 * curve[step]:.1f}%", flush=True)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return {"params": params, "random": baseline["top1"], "curve": curve, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--train-images", type=int, default=4096)
    parser.add_argument("--test-images", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fix", nargs="*", default=[], help="Scene attributes held fixed, e.g. size=large count=1.")
    parser.add_argument(
        "--backbone", nargs=3, action="append", metavar=("NAME", "KWARGS", "LR"),
        help="A timm model, its create_model kwargs as JSON, and its peak lr (repeatable). "
        "Default: the tiny preset's ViT, the same ViT behind timm's ResNet stem, and ResNet-18.",
    )  # fmt: skip
    args = parser.parse_args()
    try:
        fixed = parse_attributes(args.fix)
    except ValueError as err:
        parser.error(f"--fix: {err}")
    tiny = load_config("tiny")
    vit = backbone_model_args(tiny.train.backbone, SIZE)
    backbones = args.backbone or [
        (tiny.train.backbone.name, json.dumps(vit), "3e-4"),
        ("vit_tiny_r_s16_p8_224", json.dumps({**vit, "patch_size": 2}), "3e-4"),
        ("resnet18", "{}", "1e-3"),
    ]
    data = (renders(args.train_images, args.seed + 1, fixed), renders(args.test_images, args.seed + 2, fixed))
    results = {}
    for name, kwargs, lr in backbones:
        print(f"{name} {kwargs} lr {lr}", flush=True)
        results[(name, kwargs)] = measure(
            name, json.loads(kwargs), float(lr), data, args.steps, args.seed, tiny.eval.probe_cs
        )
    chance = 100 / len(ATTRIBUTES["shape"])
    print(f"\nShape top-1 (%) on {args.test_images} held-out renders (chance {chance:.1f}); supervised on "
          f"{args.train_images} renders, batch {BATCH}; fixed: {fixed or 'nothing'}")  # fmt: skip
    steps = list(next(iter(results.values()))["curve"])
    print("| backbone | params (M) | random-init linear probe | " + " | ".join(f"step {s}" for s in steps) + " | s |")
    print("|---" * (len(steps) + 4) + "|")
    for (name, kwargs), result in results.items():
        accuracy = " | ".join(f"{100 * result['curve'][s]:.1f}" for s in steps)
        print(f"| {name} {kwargs} | {result['params']:.2f} | {100 * result['random']:.1f} | {accuracy} | "
              f"{result['seconds']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
