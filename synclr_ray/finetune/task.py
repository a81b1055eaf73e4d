"""Fine-tuning as a downstream task: the MAE/BEiT recipe the paper follows, with timm's own parts.

timm builds the model from the export (new classifier, stochastic depth ``drop_path``), its
training transform (RandAugment, random erasing), Mixup/CutMix with label smoothing and the
soft-target loss, the cosine schedule and the model EMA; layer-wise lr decay is timm's param groups.
"""

import functools
import random

import numpy as np
import timm
import torch
from timm.data import Mixup, create_transform
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.scheduler import CosineLRScheduler
from timm.utils import ModelEmaV3

from synclr_ray import seeds
from synclr_ray.config.finetune import FinetuneConfig
from synclr_ray.downstream.batches import Augment
from synclr_ray.downstream.task import DownstreamTask
from synclr_ray.eval.features import decode_image

INTERPOLATION = "bicubic"


def seed_everything(seed: int) -> None:
    """Seed the generators timm's and torchvision's transforms draw from."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train_augment(
    rows: dict[str, np.ndarray], seed: int, epoch: int, *, info: dict, cfg: FinetuneConfig
) -> dict[str, np.ndarray]:
    """timm's training transform of every row, seeded by (seed, epoch, row id); images leave as float16."""
    transform = create_transform(
        info["image_size"], is_training=True, auto_augment=cfg.auto_augment, re_prob=cfg.random_erasing,
        re_mode="pixel", re_count=1, interpolation=INTERPOLATION, mean=info["mean"], std=info["std"],
    )  # fmt: skip
    images = []
    for row_id, data in zip(rows["id"], rows["image"], strict=True):
        seed_everything(seeds.derive(seed, epoch, row_id, 0))
        images.append(transform(decode_image(data, row_id).convert("RGB")).to(torch.float16))
    return {"image": torch.stack(images).numpy(), "label": rows["label"].astype(np.int64)}


class Finetuned(torch.nn.Module):
    """The classifier being fine-tuned and, with ``ema_decay``, its exponential moving average."""

    def __init__(self, model: torch.nn.Module, ema_decay: float) -> None:
        super().__init__()
        self.model = model
        self.ema = ModelEmaV3(model, decay=ema_decay) if ema_decay else None
        if self.ema is not None:
            self.ema.requires_grad_(False)


class FinetuneTask(DownstreamTask):
    """Classifier on the export's CLS token, trained end to end."""

    @property
    def section(self) -> FinetuneConfig:
        return self.cfg.finetune

    @property
    def augment(self) -> Augment:
        return functools.partial(train_augment, info=self.info, cfg=self.section)

    def build(self) -> Finetuned:
        local = self.local_encoder()
        model = timm.create_model(
            f"local-dir:{local}", pretrained=True, num_classes=self.num_classes,
            drop_path_rate=self.section.drop_path, global_pool="token",
        )  # fmt: skip
        return Finetuned(model, self.section.ema_decay)

    def trained(self, module: Finetuned) -> torch.nn.Module:
        return module.model

    def encoder(self, module: Finetuned) -> torch.nn.Module:
        return module.model

    def scheduler(self, optimizer: torch.optim.Optimizer) -> CosineLRScheduler:
        cfg = self.section
        return CosineLRScheduler(
            optimizer, t_initial=max(1, cfg.steps - cfg.warmup_steps), lr_min=cfg.min_lr, warmup_t=cfg.warmup_steps,
            warmup_lr_init=0.0, warmup_prefix=True, t_in_epochs=False,
        )  # fmt: skip

    @functools.cached_property
    def _mixup(self) -> Mixup | None:
        cfg = self.section
        if not (cfg.mixup or cfg.cutmix):
            return None
        return Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, label_smoothing=cfg.label_smoothing,
                     num_classes=self.num_classes)  # fmt: skip

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        images, labels = batch["image"].to(device).float(), batch["label"].to(device)
        if self._mixup is not None:
            if len(labels) % 2:
                raise ValueError(f"mixup needs an even batch per worker, got {len(labels)} (finetune.batch_size)")
            images, targets = self._mixup(images, labels)
            return SoftTargetCrossEntropy()(model(images), targets)
        if self.section.label_smoothing:
            return LabelSmoothingCrossEntropy(self.section.label_smoothing)(model(images), labels)
        return torch.nn.functional.cross_entropy(model(images), labels)

    def after_step(self, module: Finetuned) -> None:
        if module.ema is not None:
            module.ema.update(module.model)

    def predict(self, module: Finetuned, rows: dict[str, np.ndarray], device: torch.device) -> dict[str, np.ndarray]:
        transform = create_transform(
            self.info["image_size"], is_training=False, crop_pct=self.section.eval_crop_pct,
            interpolation=INTERPOLATION, mean=self.info["mean"], std=self.info["std"],
        )  # fmt: skip
        images = torch.stack(
            [transform(decode_image(d, i).convert("RGB")) for d, i in zip(rows["image"], rows["id"], strict=True)]
        )
        out = {"label": rows["label"], "model": module.model(images.to(device)).argmax(1).cpu().numpy()}
        if module.ema is not None:
            out["ema"] = module.ema.module(images.to(device)).argmax(1).cpu().numpy()
        return out
