"""builtin://tiny-sd15: SD 1.5's classes and layout, loaded like a hub model, drawing what the caption says."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from synclr_ray import storage
from synclr_ray.config import load_config
from synclr_ray.images.model import load_pipeline
from synclr_ray.toyworld.catalog import COLOURS, world_scene
from synclr_ray.toyworld.diffusion import FitSettings, build
from synclr_ray.toyworld.judge import JUDGED, fit_judge
from synclr_ray.toyworld.language import describe, named_attributes

SMALL_FIT = FitSettings(images=16, vae_steps=2, vae_batch=4, text_steps=2, text_batch=4, unet_steps=2, unet_batch=4)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _draw(prompts: list[str], steps: int = 8) -> list:
    """Images of the tiny preset's pipeline (its scheduler, guidance and size), one seed per prompt."""
    images = load_config("tiny").images
    pipe = load_pipeline(images, "cpu")
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    with torch.inference_mode():
        return pipe(prompts, generator=generators, guidance_scale=images.guidance_scale, num_inference_steps=steps,
                    height=images.resolution, width=images.resolution).images  # fmt: skip


def test_loads_like_a_hub_model_with_the_sd15_architecture() -> None:
    pipe = StableDiffusionPipeline.from_pretrained(storage.model_source("builtin://tiny-sd15"))
    assert pipe.vae_scale_factor == 8  # SD's 8x latent downsampling
    assert [type(b).__name__ for b in pipe.unet.down_blocks] == ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    assert pipe.safety_checker is None
    ids = pipe.tokenizer("A Golden Retriever, on the grass!").input_ids
    assert ids[0] == pipe.tokenizer.bos_token_id and ids[-1] == pipe.tokenizer.eos_token_id
    assert pipe.tokenizer.unk_token_id not in ids[1:-1]  # every word is covered by the byte-level vocabulary
    assert pipe.tokenizer.decode(ids, skip_special_tokens=True) == "a golden retriever , on the grass !"
    tokens = pipe.tokenizer("a small red circle", padding="max_length", return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = pipe.text_encoder(tokens)[0]
    assert hidden.shape == (1, pipe.tokenizer.model_max_length, pipe.text_encoder.config.hidden_size)


def test_the_build_is_deterministic(tmp_path: Path) -> None:
    build(tmp_path / "a", SMALL_FIT)
    build(tmp_path / "b", SMALL_FIT)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


@pytest.mark.slow
def test_the_object_takes_the_colour_the_caption_names() -> None:
    prompts = [f"A large {colour} {shape} against a grey wall." for colour in COLOURS for shape in ("circle", "square")]
    seen = []
    for image in _draw(prompts):
        pixels = np.asarray(image, dtype=float).reshape(-1, 3)
        saturation = pixels.max(axis=1) - pixels.min(axis=1)
        vivid = pixels[saturation >= np.quantile(saturation, 0.9)]  # the wall is grey: vivid pixels are the object
        middle = np.median(vivid, axis=0)
        seen.append(min(COLOURS, key=lambda c: np.linalg.norm(np.array(COLOURS[c]) - middle)))
    named = [prompt.split()[2] for prompt in prompts]
    assert sum(s == n for s, n in zip(seen, named, strict=True)) >= 0.9 * len(prompts), list(
        zip(named, seen, strict=True)
    )


@pytest.mark.slow
def test_a_judge_fitted_on_renders_sees_the_prompted_colour_and_shape() -> None:
    rng = np.random.default_rng(7)
    prompts = [describe(world_scene(rng), rng) for _ in range(120)]
    judge = fit_judge()
    verdicts = [v for start in range(0, len(prompts), 24) for v in judge.verdicts(_draw(prompts[start : start + 24]))]
    named = [named_attributes(p) for p in prompts]
    rates = {a: np.mean([v[a] == n[a] for v, n in zip(verdicts, named, strict=True)]) for a in JUDGED}
    print(f"judge agrees with the prompt on {', '.join(f'{a} {100 * r:.0f}%' for a, r in rates.items())}")
    assert rates["colour"] >= 0.9
    assert rates["shape"] >= 2 / 6  # twice chance
