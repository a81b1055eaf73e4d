import hashlib
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from synclr_ray import storage
from synclr_ray.tiny.diffusion import build_tiny_sd, tiny_sd_path


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_built_once_into_the_cache_deterministically(tmp_path: Path) -> None:
    path = tiny_sd_path()
    assert path.parent == storage.cache_dir() and (path / "model_index.json").exists()
    stamp = (path / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    assert tiny_sd_path() == path
    assert (path / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in storage.cache_dir().iterdir() if p.name.startswith(".tiny-sd")]  # no staging left over
    build_tiny_sd(tmp_path / "again")
    assert _digests(tmp_path / "again") == _digests(path)


def test_loads_like_a_hub_model_with_the_sd15_architecture() -> None:
    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd_path())
    assert pipe.vae_scale_factor == 8  # SD's 8x latent downsampling
    assert [type(b).__name__ for b in pipe.unet.down_blocks] == ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    assert pipe.safety_checker is None
    ids = pipe.tokenizer("A Golden Retriever, on the grass!").input_ids
    assert ids[0] == pipe.tokenizer.bos_token_id and ids[-1] == pipe.tokenizer.eos_token_id
    assert pipe.tokenizer.unk_token_id not in ids[1:-1]  # every word is covered by the byte-level vocabulary
    assert pipe.tokenizer.decode(ids, skip_special_tokens=True) == "a golden retriever , on the grass !"
    tokens = pipe.tokenizer("a golden retriever", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = pipe.text_encoder(tokens)[0]
    assert hidden.shape == (1, 77, pipe.text_encoder.config.hidden_size)
