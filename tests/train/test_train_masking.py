import pytest
import torch

from synclr_ray.config.train import MaskConfig
from synclr_ray.train.masking import MaskGenerator


@pytest.mark.parametrize("mode", ["random", "block"])
@pytest.mark.parametrize("batch_size", [8, 5, 1])
def test_half_of_images_with_half_of_tokens(mode, batch_size):
    generate = MaskGenerator(MaskConfig(mode=mode), (8, 8))
    masks = generate(batch_size, torch.Generator().manual_seed(batch_size))
    assert masks.shape == (batch_size, 64) and masks.dtype == torch.bool
    per_image = masks.sum(dim=1)
    assert int((per_image > 0).sum()) == int(batch_size * 0.5 + 0.5)
    assert set(per_image[per_image > 0].tolist()) == {32}


def test_fresh_masks_every_call_for_the_same_batch_size():
    generate = MaskGenerator(MaskConfig(), (8, 8))
    generator = torch.Generator().manual_seed(0)
    first, second = generate(16, generator), generate(16, generator)
    assert not torch.equal(first, second)
    again = generate(16, torch.Generator().manual_seed(0))
    assert torch.equal(first, again)


def _adjacent_pairs(masks: torch.Tensor) -> float:
    grid = masks.view(-1, 8, 8)
    return float((grid[:, 1:] & grid[:, :-1]).sum() + (grid[:, :, 1:] & grid[:, :, :-1]).sum())


def test_block_masks_are_spatially_clustered():
    generator = torch.Generator().manual_seed(0)
    block = MaskGenerator(MaskConfig(mode="block", image_prob=1.0), (8, 8))(32, generator)
    random = MaskGenerator(MaskConfig(mode="random", image_prob=1.0), (8, 8))(32, generator)
    assert _adjacent_pairs(block) > 1.3 * _adjacent_pairs(random)


@pytest.mark.parametrize("mode", ["random", "block"])
def test_rows_of_a_batch_are_the_rows_of_its_whole_draw(mode):
    """What lets each DDP rank draw only its own images of the global batch and match one process."""
    generate = MaskGenerator(MaskConfig(mode=mode), (8, 8))
    whole = generate(12, torch.Generator().manual_seed(3))
    parts = [generate(12, torch.Generator().manual_seed(3), range(start, start + 4)) for start in (0, 4, 8)]
    assert torch.equal(torch.cat(parts), whole)
    assert int(whole.any(dim=1).sum()) == 6
