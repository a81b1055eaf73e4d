"""Segmentation as a downstream task: the MAE/BEiT ADE20k recipe the paper follows (mmsegmentation's pipeline).

Training: random rescale of the short side around the crop size, random crop (padded with the
ignore label), horizontal flip, photometric jitter, AdamW with layer decay, linear warmup then a
linear (poly 1) decay. Scoring: single scale, the short side resized to the crop size, a sliding
window of crop size with 2/3 overlap stride, logits resized to the annotation.
"""

import functools
import io

import numpy as np
import timm
import torch
from PIL import Image
from timm.scheduler import PolyLRScheduler
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from synclr_ray import seeds
from synclr_ray.config.segment import SegmentConfig
from synclr_ray.downstream.batches import Augment
from synclr_ray.downstream.task import DownstreamTask
from synclr_ray.segment.miou import IGNORE, confusion
from synclr_ray.segment.model import LinearSegmenter, UperNetSegmenter


def load_pair(image: bytes, mask: bytes, row_id: str, cfg: SegmentConfig) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """Decode an image and its annotation; labels become 0..num_classes-1 or IGNORE (the error names the row)."""
    try:
        with Image.open(io.BytesIO(image)) as img:
            pixels = tv_tensors.Image(F.pil_to_tensor(img.convert("RGB")))
        with Image.open(io.BytesIO(mask)) as ann:
            labels = np.array(ann).astype(np.int64)
    except Exception as exc:
        raise ValueError(f"segmentation pair {row_id}: cannot decode ({exc})") from None
    if labels.ndim != 2 or labels.shape != tuple(pixels.shape[-2:]):
        raise ValueError(f"segmentation pair {row_id}: annotation {labels.shape} does not match image {pixels.shape}")
    if cfg.reduce_zero_label:
        labels = np.where((labels == 0) | (labels == IGNORE), IGNORE, labels - 1)
    bad = (labels != IGNORE) & (labels >= cfg.num_classes)
    if bad.any():
        raise ValueError(
            f"segmentation pair {row_id}: label {int(labels[bad].max())} outside segment.num_classes "
            f"({cfg.num_classes}{', after reduce_zero_label' if cfg.reduce_zero_label else ''})"
        )
    return pixels, tv_tensors.Mask(torch.from_numpy(labels))


def train_augment(
    rows: dict[str, np.ndarray], seed: int, epoch: int, *, cfg: SegmentConfig, mean: list, std: list
) -> dict[str, np.ndarray]:
    """Random rescale, crop, flip and photometric jitter of every pair, seeded by (seed, epoch, row id)."""
    low, high = (round(cfg.crop_size * s) for s in cfg.scale_range)
    transform = v2.Compose([
        v2.RandomResize(low, high + 1, antialias=True),
        v2.RandomCrop(cfg.crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE}),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.125, contrast=0.5, saturation=0.5, hue=0.05),
        v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
        v2.Normalize(mean, std),
    ])  # fmt: skip
    images, masks = [], []
    for row_id, image, mask in zip(rows["id"], rows["image"], rows["mask"], strict=True):
        torch.manual_seed(seeds.derive(seed, epoch, row_id, 0))
        pixels, labels = transform(*load_pair(image, mask, row_id, cfg))
        images.append(pixels.to(torch.float16))
        masks.append(labels.to(torch.uint8))
    return {"image": torch.stack(images).numpy(), "mask": torch.stack(masks).numpy()}


def slide_logits(model: torch.nn.Module, image: torch.Tensor, crop: int, num_classes: int) -> torch.Tensor:
    """mmsegmentation's sliding-window inference of one (1, 3, H, W) image: windows of ``crop`` with stride 2/3 of it,
    smaller images padded; overlapping logits averaged."""
    height, width = image.shape[-2:]
    stride = crop * 2 // 3
    logits = image.new_zeros((1, num_classes, height, width))
    counts = image.new_zeros((1, 1, height, width))
    for row in range(max(height - crop + stride - 1, 0) // stride + 1):
        for col in range(max(width - crop + stride - 1, 0) // stride + 1):
            y1, x1 = row * stride, col * stride
            y2, x2 = min(y1 + crop, height), min(x1 + crop, width)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            window = image[..., y1:y2, x1:x2]
            padded = torch.nn.functional.pad(window, (0, crop - window.shape[-1], 0, crop - window.shape[-2]))
            out = model(pixel_values=padded).logits[..., : y2 - y1, : x2 - x1]
            logits[..., y1:y2, x1:x2] += out
            counts[..., y1:y2, x1:x2] += 1
    return logits / counts


class SegmentTask(DownstreamTask):
    """UperNet (or the linear head) on the export, trained on crops, scored by mIoU."""

    @property
    def section(self) -> SegmentConfig:
        return self.cfg.segment

    @property
    def augment(self) -> Augment:
        return functools.partial(train_augment, cfg=self.section, mean=self.info["mean"], std=self.info["std"])

    def build(self) -> torch.nn.Module:
        cfg, local = self.section, str(self.local_encoder())
        if cfg.head == "linear":
            encoder = timm.create_model(f"local-dir:{local}", pretrained=True, img_size=cfg.crop_size)
            return LinearSegmenter(encoder, self.num_classes)
        return UperNetSegmenter(local, cfg, self.num_classes, self.info["depth"], self.info["feature_dim"])

    def trained(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def encoder(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.encoder

    def scheduler(self, optimizer: torch.optim.Optimizer) -> PolyLRScheduler:
        cfg = self.section
        return PolyLRScheduler(
            optimizer, t_initial=max(1, cfg.steps - cfg.warmup_steps), power=1.0, lr_min=cfg.min_lr,
            warmup_t=cfg.warmup_steps, warmup_lr_init=cfg.lr * 1e-6, warmup_prefix=True, t_in_epochs=False,
        )  # fmt: skip

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> torch.Tensor:
        labels = batch["mask"].to(device).long()  # uint8 in transit: IGNORE (255) survives it
        return model(pixel_values=batch["image"].to(device).float(), labels=labels).loss

    def after_step(self, module: torch.nn.Module) -> None:
        """Nothing: segmentation keeps no EMA."""

    def predict(
        self, module: torch.nn.Module, rows: dict[str, np.ndarray], device: torch.device
    ) -> dict[str, np.ndarray]:
        """One confusion matrix summed over the rows (a single output row: sums travel, not per-pixel maps)."""
        crop, total = self.section.crop_size, np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        normalize = v2.Compose(
            [v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.info["mean"], self.info["std"])]
        )
        for row_id, image, mask in zip(rows["id"], rows["image"], rows["mask"], strict=True):
            pixels, labels = load_pair(image, mask, row_id, self.section)
            height, width = pixels.shape[-2:]
            # Single scale: the short side to the crop size, the long side at most 4x it (mmseg's (2048, 512)).
            factor = min(crop / min(height, width), 4 * crop / max(height, width))
            size = [max(1, round(height * factor)), max(1, round(width * factor))]
            resized = normalize(F.resize(pixels, size, antialias=True))[None].to(device)
            logits = slide_logits(module, resized, crop, self.num_classes)
            logits = torch.nn.functional.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
            total += confusion(labels.numpy(), logits.argmax(1)[0].cpu().numpy(), self.num_classes)
        return {"confusion": total.reshape(1, -1)}
