import numpy as np
import torch
from PIL import Image

from synclr_ray.config.train import CropsConfig
from synclr_ray.encoder import IMAGENET_MEAN, IMAGENET_STD
from synclr_ray.train.multicrop import DownUpsample, MultiCrop, RandomGaussianBlur


def image(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 40, 3), dtype=np.uint8))


def test_shapes_dtype_and_normalisation():
    crops = MultiCrop(CropsConfig(global_size=32, local_size=16, num_local=3), IMAGENET_MEAN, IMAGENET_STD)
    global_crop, local = crops(image().convert("L"))  # any mode becomes RGB
    assert global_crop.shape == (3, 32, 32) and local.shape == (3, 3, 16, 16)
    assert global_crop.dtype == local.dtype == torch.float32
    assert type(global_crop) is torch.Tensor and type(local) is torch.Tensor
    assert global_crop.min() < 0 < global_crop.max() and global_crop.abs().max() < 3.0 / min(IMAGENET_STD)


def test_random_every_call_and_no_locals_when_disabled():
    torch.manual_seed(0)
    crops = MultiCrop(CropsConfig(global_size=32, local_size=16, num_local=2), IMAGENET_MEAN, IMAGENET_STD)
    first, second = crops(image()), crops(image())
    assert not torch.equal(first[0], second[0]) and not torch.equal(first[1][0], first[1][1])
    global_crop, local = MultiCrop(
        CropsConfig(global_size=32, local_size=16, num_local=0), IMAGENET_MEAN, IMAGENET_STD
    )(image())
    assert global_crop.shape == (3, 32, 32) and local.shape == (0, 3, 16, 16)


def test_down_upsample_keeps_size_and_loses_detail():
    noisy = image()  # 48 x 40, short side 40
    out = DownUpsample(sizes=(10,))(noisy)
    assert out.size == noisy.size
    assert np.asarray(out).std() < 0.7 * np.asarray(noisy).std()  # high-frequency noise is smoothed away
    assert DownUpsample(sizes=(40, 64))(noisy) is noisy  # nothing to lose at or above the short side


def test_down_upsample_applies_to_the_whole_image_before_cropping():
    def global_crops(p: float) -> torch.Tensor:
        cfg = CropsConfig(global_size=32, local_size=16, num_local=1, downsample_p=p, downsample_sizes=(8,))
        crops = MultiCrop(cfg, IMAGENET_MEAN, IMAGENET_STD)
        torch.manual_seed(0)
        return torch.stack([crops(image(seed))[1][0] for seed in range(8)])

    # Every local crop of a down-up-sampled image is smoother than any crop of the sharp one.
    assert global_crops(1.0).std(dim=(1, 2, 3)).max() < global_crops(0.0).std(dim=(1, 2, 3)).min()


def test_down_upsample_is_one_draw_on_the_whole_image_that_every_crop_then_cuts():
    """StableRep's order: the image is down-up-sampled once, then the global and local crops are cut from it."""
    cfg = CropsConfig(global_size=32, local_size=16, num_local=2, downsample_p=1.0, downsample_sizes=(8, 16))
    crops = MultiCrop(cfg, IMAGENET_MEAN, IMAGENET_STD)
    torch.manual_seed(3)
    global_crop, local = crops(image())
    torch.manual_seed(3)
    torch.rand(1)  # RandomApply's draw (p=1: always applied)
    whole = DownUpsample(cfg.downsample_sizes)(image())
    assert torch.equal(global_crop, crops.global_transform(whole).as_subclass(torch.Tensor))
    assert torch.equal(local, torch.stack([crops.local_transform(whole).as_subclass(torch.Tensor) for _ in range(2)]))


def test_down_upsample_sizes_have_equal_odds():
    torch.manual_seed(0)
    transform = DownUpsample(sizes=(16, 32))
    drawn = [transform.make_params([image()])["short_side"] for _ in range(2000)]
    assert abs(drawn.count(16) / len(drawn) - 0.5) < 0.05


def test_stablerep_defaults():
    cfg = CropsConfig()
    assert cfg.downsample_p == 0.05 and cfg.downsample_sizes == (64, 128)


def test_blur_smooths_pil_images():
    noisy = image()
    blurred = RandomGaussianBlur(sigma=(1.5, 2.0))(noisy)
    assert blurred.size == noisy.size and np.asarray(blurred).std() < 0.7 * np.asarray(noisy).std()


def test_crops_are_a_function_of_the_torch_seed():
    """Resume and per-image seeding rely on every random choice drawing from torch's generator."""
    crops = MultiCrop(CropsConfig(global_size=32, local_size=16, num_local=2), IMAGENET_MEAN, IMAGENET_STD)
    outputs = []
    for _ in range(2):
        torch.manual_seed(7)
        outputs.append([crops(image()) for _ in range(4)])
    for (g1, l1), (g2, l2) in zip(*outputs, strict=True):
        assert torch.equal(g1, g2) and torch.equal(l1, l2)


def test_hue_and_grayscale_settings_reach_every_crop():
    """A flat red image: hue 0.5 turns its crops to any hue; grayscale_p 1 leaves no colour in any crop."""
    red = Image.new("RGB", (32, 32), (215, 35, 35))
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1)

    def local_crops(**colour) -> torch.Tensor:  # local crops: no solarization, which alone can turn red green
        torch.manual_seed(0)
        cfg = CropsConfig(global_size=16, local_size=8, num_local=1, **colour)
        multicrop = MultiCrop(cfg, IMAGENET_MEAN, IMAGENET_STD)
        return torch.stack([multicrop(red)[1][0].flatten(1) for _ in range(32)]) * std + mean

    def greenest(rgb: torch.Tensor) -> float:  # the most any crop's green channel beats its red one
        return float((rgb[:, 1] - rgb[:, 0]).mean(dim=1).max())

    assert greenest(local_crops(hue=0.1, grayscale_p=0.0)) < 0 < greenest(local_crops(hue=0.5, grayscale_p=0.0))
    gray = local_crops(grayscale_p=1.0)
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1e-2) and torch.allclose(gray[:, 1], gray[:, 2], atol=1e-2)
