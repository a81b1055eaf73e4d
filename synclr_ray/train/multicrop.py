"""Multi-crop augmentation: 1 global + n local crops per image, BYOL-style, with torchvision.transforms.v2.

Before cropping, the whole image is sometimes downsampled and upsampled back (StableRep's
``DownSampleAndUpsample``, which the paper's Table 12 cites): synthetic images are all sharp,
real photos often are not.
"""

from typing import Any

import torch
from PIL import Image, ImageFilter
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from synclr_ray.config.train import CropsConfig

# BYOL's two view recipes; with a single global crop per image, each image draws one of them,
# so the batch keeps BYOL's mix. Local crops follow DINO (blur 0.5, no solarize).
_BLUR_SIGMA = (0.1, 2.0)
# Blur radii are pixels of the paper's 224 px global crops: smaller crops (the tiny preset) scale them.
_PAPER_GLOBAL_SIZE = 224
_VIEW_BLUR_SOLARIZE = ((1.0, 0.0), (0.1, 0.2))
_LOCAL_BLUR = 0.5


class DownUpsample(v2.Transform):
    """Resize the short side down to one of ``sizes`` (equal odds), then back up to the original size.

    A size at or above the image's short side leaves the image unchanged (there is nothing to lose).
    """

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.sizes = sizes

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        index = int(torch.randint(len(self.sizes), (1,)))
        return {"original": list(TF.get_size(flat_inputs[0])), "short_side": self.sizes[index]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if params["short_side"] >= min(params["original"]):
            return inpt
        small = self._call_kernel(TF.resize, inpt, params["short_side"], antialias=True)
        return self._call_kernel(TF.resize, small, params["original"], antialias=True)


class RandomGaussianBlur(v2.Transform):
    """Gaussian blur of a PIL image with a random radius, as in DINO.

    PIL's blur is about 20x cheaper than ``v2.GaussianBlur``'s convolution at 224 px, and data
    loading runs on the few CPUs next to the accelerator.
    """

    _transformed_types = (Image.Image,)

    def __init__(self, sigma: tuple[float, float] = _BLUR_SIGMA) -> None:
        super().__init__()
        self.sigma = sigma

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"radius": torch.empty(1).uniform_(*self.sigma).item()}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return inpt.filter(ImageFilter.GaussianBlur(radius=params["radius"]))


def _blur(p: float, scale: float) -> v2.Transform:
    return v2.RandomApply([RandomGaussianBlur(sigma=(_BLUR_SIGMA[0] * scale, _BLUR_SIGMA[1] * scale))], p=p)


def crop_transform(
    size: int, scale: tuple[float, float], tail: v2.Transform, cfg: CropsConfig, mean, std
) -> v2.Compose:
    """Random resized crop, flip, colour jitter (``cfg.hue``), grayscale (``cfg.grayscale_p``), ``tail``
    (blur/solarize), normalise.

    Everything before ``ToImage`` runs on PIL images, the cheapest path on CPU for these operations.
    """
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=scale, interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, cfg.hue)], p=0.8),
            v2.RandomGrayscale(p=cfg.grayscale_p),
            tail,
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )


class MultiCrop:
    """``image -> (global [3, G, G], locals [n, 3, L, L])`` with the crops config's sizes and scales."""

    def __init__(self, cfg: CropsConfig, mean: tuple[float, float, float], std: tuple[float, float, float]) -> None:
        self.cfg = cfg
        self.down_up = v2.RandomApply([DownUpsample(cfg.downsample_sizes)], p=cfg.downsample_p)
        scale = cfg.global_size / _PAPER_GLOBAL_SIZE
        views = [
            v2.Compose([_blur(blur, scale), v2.RandomSolarize(128, p=solarize)])
            for blur, solarize in _VIEW_BLUR_SOLARIZE
        ]
        self.global_transform = crop_transform(
            cfg.global_size, cfg.global_scale, v2.RandomChoice(views), cfg, mean, std
        )
        self.local_transform = crop_transform(
            cfg.local_size, cfg.local_scale, _blur(_LOCAL_BLUR, scale), cfg, mean, std
        )

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.down_up(image.convert("RGB"))
        global_crop = self.global_transform(image).as_subclass(torch.Tensor)
        size = self.cfg.local_size
        local = [self.local_transform(image).as_subclass(torch.Tensor) for _ in range(self.cfg.num_local)]
        return global_crop, torch.stack(local) if local else torch.empty(0, 3, size, size)
