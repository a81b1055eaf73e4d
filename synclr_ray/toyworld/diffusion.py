"""The tiny Stable Diffusion 1.5 (``builtin://tiny-sd15``), fitted on the toy world so that its samples
show what the caption says.

SD 1.5's classes and block layout at a fraction of the width: a CLIP text encoder and tokenizer,
a UNet with cross-attention at three of its four levels, a KL autoencoder with an 8x smaller
latent grid, SD 1.5's betas rescaled to zero terminal SNR with v-prediction (a DDIM scheduler
config, as SD 2.x; the image stage swaps in DDIM or DPM-Solver++ from it). Saved with
``save_pretrained``, so the image stage loads it with ``StableDiffusionPipeline.from_pretrained``
exactly like a hub id. The build is deterministic (fixed seeds, one CPU thread):

1. renders of random scenes of the toy world, centred and upright, each with a caption that leaves
   some attributes unsaid;
2. a CLIP tokenizer trained on general English plus those captions;
3. the autoencoder fitted to reconstruct renders of the whole catalog (every texture, background
   and count, at random poses) from its posterior mean (random crops; object pixels weigh more), as
   SD's autoencoder is fitted on far more than its UNet is asked to draw: fitted on the grey wall
   alone, its latents of the wall carry the object's colour, and guidance turns the wall purple;
4. the latents of the world's renders and of their mirror images (every toy shape is left-right
   symmetric);
5. the text encoder fitted on the captions alone to name each attribute they say, then frozen (as
   SD 1.5 freezes CLIP's);
6. the UNet fitted on (latent, caption) pairs: v-prediction with Min-SNR weighting, noisy steps
   drawn more often, object cells weighted up, 10% empty captions so classifier-free guidance has
   an unconditional model; the UNet saved is an exponential moving average of its weights.

Both the centred poses and the frozen, pre-fitted text encoder are needed for the samples to show
the prompted shape (README, "Toy world"): with objects anywhere the UNet's conditional mean is a
blob, and fitted jointly with the UNet the text encoder carries the colour word and loses the shape.
"""

import copy
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synclr_ray.toyworld.catalog import ATTRIBUTES, WORLD_ATTRIBUTES, Scene, sample_scene, world_scene
from synclr_ray.toyworld.clip_tokenizer import clip_tokenizer, imagenet_text
from synclr_ray.toyworld.language import OPTIONAL, describe, named_attributes
from synclr_ray.toyworld.render import NUISANCE, Nuisance, render

# v1: the random-weight stand-in, v2: epsilon prediction, v3: unweighted v-prediction, v4: text encoder and UNet
# fitted together on the whole catalog at random poses
VERSION = "v5"
RESOLUTION = 64
TEXT_DIM = 64
TEXT_TOKENS = 32  # toy captions are about 15 tokens; longer ones are truncated as SD truncates at 77
UNSAID = 0.3  # chance that a fitting caption leaves out each optional attribute
UNCONDITIONAL = 0.1  # share of fitting captions replaced by "" (the unconditional model for guidance)
# The trainer's multi-crop, not the generator, moves and turns objects: what a caption says is then drawn the same
# way in every sample, so the UNet's conditional mean is the object's outline and not a blob.
FIT_NUISANCE = Nuisance(max_rotation=0.0, random_position=False)


@dataclass(frozen=True)
class FitSettings:
    """How much fitting the build does (the defaults; the build test passes smaller ones)."""

    images: int = 3000
    vae_steps: int = 1200
    vae_batch: int = 16
    vae_crop: int = 32
    vae_lr: float = 3e-3
    object_weight: float = 4.0
    latent_object_weight: float = 4.0
    text_steps: int = 300
    text_batch: int = 64
    text_lr: float = 1e-3
    unet_steps: int = 800
    unet_batch: int = 64
    unet_lr: float = 2e-3
    ema: float = 0.99
    min_snr: float = 5.0


def build(out_dir: Path, fit: FitSettings = FitSettings()) -> None:
    """Build and fit the tiny pipeline and save it to ``out_dir`` in the diffusers layout."""
    from diffusers import StableDiffusionPipeline

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # this many small ops run faster on one thread than on two contending ones
    try:
        pixels, objects, captions = fit_set(fit.images)
        with tempfile.TemporaryDirectory() as scratch:
            tokenizer = clip_tokenizer([*imagenet_text(), *captions], Path(scratch), TEXT_TOKENS)
        vae, text_encoder, unet, scheduler = architecture(len(tokenizer), tokenizer)
        catalog_pixels, catalog_objects, _ = fit_set(fit.images, seed=1, sample=sample_scene, nuisance=NUISANCE)
        fit_autoencoder(vae, catalog_pixels, catalog_objects, fit)
        latents = encode(vae, pixels)
        coverage = F.avg_pool2d(objects[:, None].float(), vae_scale(vae))
        coverage = torch.cat([coverage, coverage.flip(3)])  # the mirror images' objects, as in ``encode``
        tokens = tokenizer([*captions, ""], padding="max_length", max_length=TEXT_TOKENS, truncation=True,
                           return_tensors="pt").input_ids  # fmt: skip
        fit_text_encoder(text_encoder, tokens[:-1], captions, fit)
        with torch.no_grad():
            hidden = torch.cat([text_encoder(chunk)[0] for chunk in tokens.split(256)])
        unet = fit_denoiser(unet, scheduler, latents, coverage, hidden, fit)
    finally:
        torch.set_num_threads(threads)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out_dir, safe_serialization=True)


def fit_set(
    count: int, seed: int = 0, sample: Callable[..., Scene] = world_scene, nuisance: Nuisance = FIT_NUISANCE
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``count`` renders in [-1, 1] (N, 3, H, W), their object masks (N, H, W) and captions; by default of
    random scenes of the world, centred and upright."""
    rng = np.random.default_rng(seed)
    images, masks, captions = [], [], []
    for _ in range(count):
        scene = sample(rng)
        out = render(scene, RESOLUTION, rng, nuisance)
        images.append(np.asarray(out.image))
        masks.append(out.instances > 0)
        captions.append(describe(scene, rng, [a for a in OPTIONAL if rng.uniform() < UNSAID]))
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return pixels, torch.from_numpy(np.stack(masks)), captions


def architecture(vocab_size: int, tokenizer) -> tuple:
    """Autoencoder, text encoder, UNet and scheduler with SD 1.5's layout, seeded random weights."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=TEXT_DIM,
            intermediate_size=4 * TEXT_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=TEXT_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    torch.manual_seed(1)
    # SD 1.5's block layout (3 cross-attention levels + 1 plain) at a fraction of the width; groups of
    # 4+ channels, since a GroupNorm over 1-2 channels erases what a flat colour looks like.
    unet = UNet2DConditionModel(
        sample_size=RESOLUTION // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 32, 64, 64),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    torch.manual_seed(2)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        # One group: a GroupNorm over groups of a few channels (the output norms sit on the main path) strips
        # each group's per-image mean and scale, which is where a flat colour lives; one group keeps channel ratios.
        norm_num_groups=1,
        sample_size=RESOLUTION,
    )
    for model in (vae, unet):
        zero_residual_branches(model)
    # The image stage swaps in DDIM or DPM-Solver++ from this config. SD 1.5's betas rescaled to zero terminal
    # SNR, with v-prediction and trailing steps (Lin et al. 2024, as in SD 2.x): with SD's own schedule the last
    # training step keeps 7% of the image, so at sampling the mean of the initial noise, not the caption, sets
    # the background and the colours of an 8x8 latent.
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
    )
    return vae, text_encoder, unet, scheduler


def vae_scale(vae) -> int:
    """Pixels per latent cell side: 2 per downsampling block (SD's 8)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


@torch.no_grad()
def zero_residual_branches(model: torch.nn.Module) -> None:
    """Zero the last layer of every residual branch (as in ADM and Fixup): each block starts as the identity,
    which makes a short fit from scratch converge several times faster."""
    for module in model.modules():
        kind = type(module).__name__
        if kind == "ResnetBlock2D":
            last = module.conv2
        elif kind == "Attention":
            last = module.to_out[0]
        elif kind == "Transformer2DModel":
            last = module.proj_out
        else:
            continue
        last.weight.zero_()
        if last.bias is not None:
            last.bias.zero_()


def fit_autoencoder(vae, pixels: torch.Tensor, objects: torch.Tensor, fit: FitSettings) -> None:
    """Reconstruction (L1 + L2, object pixels weighted up) on random crops, with a tiny KL term."""
    generator = torch.Generator().manual_seed(3)
    opt = torch.optim.AdamW(vae.parameters(), fit.vae_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, fit.vae_lr, total_steps=fit.vae_steps, pct_start=0.05)
    vae.train()
    for _ in range(fit.vae_steps):
        index = torch.randint(0, len(pixels), (fit.vae_batch,), generator=generator)
        top, left = torch.randint(0, RESOLUTION - fit.vae_crop + 1, (2,), generator=generator).tolist()
        window = (slice(None), slice(None), slice(top, top + fit.vae_crop), slice(left, left + fit.vae_crop))
        x = pixels[index][window]
        weight = (1 + fit.object_weight * objects[index][:, None].float())[window]
        posterior = vae.encode(x).latent_dist
        error = vae.decode(posterior.mean).sample - x
        loss = ((error.abs() + error.square()) * weight).mean() / weight.mean() + 1e-6 * posterior.kl().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        schedule.step()
    vae.eval()


@torch.no_grad()
def encode(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Scaled latent means of the images and of their mirror images; sets the VAE's ``scaling_factor``."""
    means = [vae.encode(chunk).latent_dist.mean for chunk in torch.cat([pixels, pixels.flip(3)]).split(256)]
    latents = torch.cat(means)
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    return latents * vae.config.scaling_factor


def fit_text_encoder(text_encoder, tokens: torch.Tensor, captions: list[str], fit: FitSettings) -> None:
    """Fit the text encoder's pooled state to name each world attribute a caption says (or that it says none),
    then freeze it: the UNet then reads every attribute from the caption, not only the one easiest to draw."""
    said = [named_attributes(caption) for caption in captions]
    labels = torch.tensor(
        [[ATTRIBUTES[name].index(s[name]) if name in s else len(ATTRIBUTES[name]) for name in WORLD_ATTRIBUTES]
         for s in said]
    )  # fmt: skip
    torch.manual_seed(5)
    heads = torch.nn.ModuleList([torch.nn.Linear(TEXT_DIM, len(ATTRIBUTES[name]) + 1) for name in WORLD_ATTRIBUTES])
    opt = torch.optim.AdamW([*text_encoder.parameters(), *heads.parameters()], fit.text_lr)
    generator = torch.Generator().manual_seed(5)
    text_encoder.train()
    for _ in range(fit.text_steps):
        index = torch.randint(0, len(captions), (fit.text_batch,), generator=generator)
        pooled = text_encoder(tokens[index]).pooler_output
        loss = sum(F.cross_entropy(head(pooled), labels[index, k]) for k, head in enumerate(heads))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    text_encoder.requires_grad_(False).eval()


def fit_denoiser(
    unet, scheduler, latents: torch.Tensor, coverage: torch.Tensor, hidden: torch.Tensor, fit: FitSettings
):
    """Fit the UNet on noised latents; returns the exponential moving average of its weights.

    ``latents`` holds the images then their mirror images, ``coverage`` the share of each latent
    cell the objects cover (N, 1, h, w), ``hidden`` the frozen text encoder's states of one caption
    per image plus the empty caption last. The noisiest steps are drawn more often and the object's
    cells weigh more: colour and shape are decided at high noise and sit in a few of the 64 cells.
    """
    from diffusers import DDPMScheduler

    noise_schedule = DDPMScheduler.from_config(scheduler.config)
    alphas = noise_schedule.alphas_cumprod
    snr = alphas / (1 - alphas)
    # Min-SNR-gamma for v-prediction, kept at full weight at the noisiest steps (zero SNR at the last one):
    # they decide layout, shape and colour.
    weights = torch.clamp(fit.min_snr / (snr + 1), max=1.0)
    images = len(hidden) - 1
    generator = torch.Generator().manual_seed(4)
    params = list(unet.parameters())
    opt = torch.optim.AdamW(params, fit.unet_lr, weight_decay=0.0)
    warmup = max(1, fit.unet_steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, fit.unet_steps) / fit.unet_steps)),
    )
    average = copy.deepcopy(unet).requires_grad_(False)
    unet.train()
    for _ in range(fit.unet_steps):
        index = torch.randint(0, len(latents), (fit.unet_batch,), generator=generator)
        caption = index % images
        caption[torch.rand(fit.unet_batch, generator=generator) < UNCONDITIONAL] = images
        x0 = latents[index]
        noise = torch.randn(x0.shape, generator=generator)
        u = torch.rand(fit.unet_batch, generator=generator)
        t = ((1 - (1 - u).square()) * len(alphas)).long().clamp(max=len(alphas) - 1)  # density rising to t = T
        predicted = unet(noise_schedule.add_noise(x0, noise, t), t, hidden[caption]).sample
        target = noise_schedule.get_velocity(x0, noise, t)
        cell = 1 + fit.latent_object_weight * coverage[index]
        error = (F.mse_loss(predicted, target, reduction="none") * cell).mean(dim=(1, 2, 3)) / cell.mean(dim=(1, 2, 3))
        loss = (error * weights[t]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        schedule.step()
        with torch.no_grad():
            for kept, current in zip(average.parameters(), params, strict=True):
                kept.lerp_(current, 1 - fit.ema)
    return average.eval()
