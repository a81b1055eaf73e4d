"""The judge of toy-world images: attribute verdicts from a small CNN fitted on renders."""

import numpy as np
import torch
from PIL import Image

from synclr_ray.toyworld.catalog import ATTRIBUTES
from synclr_ray.toyworld.judge import JUDGED, SIZE, Judge, fit_judge, to_pixels


def test_pixels_are_resized_and_scaled_to_minus_one_one():
    pixels = to_pixels([Image.new("RGB", (10, 30), (255, 0, 128)), Image.new("L", (64, 64), 0)])
    assert pixels.shape == (2, 3, SIZE, SIZE)
    assert pixels[0, 0].eq(1).all() and pixels[0, 1].eq(-1).all() and pixels[1].eq(-1).all()


def test_verdicts_name_a_value_of_every_judged_attribute():
    torch.manual_seed(0)
    verdicts = Judge().verdicts([Image.new("RGB", (64, 64), (9, 9, 9))] * 2)
    assert len(verdicts) == 2 and set(verdicts[0]) == set(JUDGED)
    assert all(verdict[name] in ATTRIBUTES[name] for verdict in verdicts for name in JUDGED)


def test_fitting_is_seeded():
    first, second = fit_judge(images=16, steps=2, seed=3), fit_judge(images=16, steps=2, seed=3)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not first.training and np.isfinite(first.heads["shape"].weight.detach().numpy()).all()
