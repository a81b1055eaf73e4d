"""A judge of toy-world images: a small CNN fitted on renders that names an image's shape, colour and size.

It measures whether a generator draws what its prompt says: fit it on renders (never on generated
images), then compare its verdicts on generated images with the attributes their prompts name.
"""

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from synclr_ray.toyworld.catalog import ATTRIBUTES, world_scene
from synclr_ray.toyworld.render import render

JUDGED = ("shape", "colour", "size")
SIZE = 64


class Judge(nn.Module):
    """Three strided convolutions, global pooling and one linear head per judged attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(128, len(ATTRIBUTES[name])) for name in JUDGED})

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per judged attribute for images in [-1, 1] (N, 3, 64, 64)."""
        h = self.features(pixels)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return {name: head(pooled) for name, head in self.heads.items()}

    @torch.no_grad()
    def verdicts(self, images: Sequence[Image.Image]) -> list[dict[str, str]]:
        """The judged attribute values of each image."""
        self.eval()
        logits = self(to_pixels(images))
        picks = {name: value.argmax(dim=1).tolist() for name, value in logits.items()}
        return [{name: ATTRIBUTES[name][picks[name][i]] for name in JUDGED} for i in range(len(images))]


def to_pixels(images: Sequence[Image.Image]) -> torch.Tensor:
    """PIL images -> (N, 3, 64, 64) in [-1, 1]."""
    arrays = [np.asarray(image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def fit_judge(images: int = 3000, steps: int = 400, seed: int = 1) -> Judge:
    """Fit a judge on ``images`` renders of random scenes of the world (seeded: the same judge every time)."""
    rng = np.random.default_rng(seed)
    scenes = [world_scene(rng) for _ in range(images)]
    pixels = to_pixels([render(scene, SIZE, rng).image for scene in scenes])
    labels = {name: torch.tensor([ATTRIBUTES[name].index(getattr(s, name)) for s in scenes]) for name in JUDGED}
    torch.manual_seed(seed)
    judge = Judge()
    opt = torch.optim.AdamW(judge.parameters(), 2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    judge.train()
    for _ in range(steps):
        index = torch.randint(0, images, (64,), generator=generator)
        batch = pixels[index]
        flip = torch.rand(len(index), generator=generator) < 0.5  # every toy shape is left-right symmetric
        batch[flip] = batch[flip].flip(3)
        logits = judge(batch)
        loss = sum(nn.functional.cross_entropy(logits[name], labels[name][index]) for name in JUDGED)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        schedule.step()
    return judge.eval()
