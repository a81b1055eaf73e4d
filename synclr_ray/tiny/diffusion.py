"""A tiny Stable Diffusion 1.5: the real architecture (CLIP text encoder + tokenizer, UNet with
cross-attention, KL autoencoder with an 8x downsampling, PNDM scheduler config), random weights.

Built once per node into the model cache, deterministically, and saved with ``save_pretrained``
so the engine loads it with ``StableDiffusionPipeline.from_pretrained`` exactly like a hub id.
The tokenizer's BPE vocabulary is trained here on text that ships with timm (ImageNet class
names and definitions), since nothing can be downloaded.
"""

import json
import shutil
import uuid
from importlib import resources
from pathlib import Path

import torch
from filelock import FileLock

from synclr_ray import storage

# Bump when the architecture or the vocabulary changes: a new name means a fresh build.
TINY_SD_NAME = "tiny-sd15-v1"

_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"
_VOCAB_SIZE = 2048
_TEXT_DIM = 64


def tiny_sd_path() -> Path:
    """The local directory of the tiny SD-1.5 pipeline, built on first use (file lock + atomic rename)."""
    target = storage.cache_dir() / TINY_SD_NAME
    if (target / "model_index.json").exists():
        return target
    with FileLock(str(target) + ".lock"):
        if not (target / "model_index.json").exists():
            staging = target.parent / f".{TINY_SD_NAME}.{uuid.uuid4().hex}"
            try:
                build_tiny_sd(staging)
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_sd(out_dir: Path) -> None:
    """Build the tiny pipeline with fixed seeds and save it to ``out_dir`` in the diffusers layout."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer_dir = out_dir / "_tokenizer_files"
    _write_clip_bpe(tokenizer_dir)
    tokenizer = CLIPTokenizer(
        vocab=str(tokenizer_dir / "vocab.json"), merges=str(tokenizer_dir / "merges.txt"), model_max_length=77
    )
    shutil.rmtree(tokenizer_dir)

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=_TEXT_DIM,
            intermediate_size=4 * _TEXT_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    torch.manual_seed(1)
    # SD 1.5's block layout (3 cross-attention levels + 1 plain) at a fraction of the width.
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 32, 64, 64),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=_TEXT_DIM,
        attention_head_dim=8,
        norm_num_groups=16,
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
        norm_num_groups=16,
        sample_size=64,
    )
    # SD 1.5's own scheduler settings; the engine swaps in DDIM or DPM-Solver++ from this config.
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )
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


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable character table, in CLIP's vocabulary order."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def _corpus() -> list[str]:
    """Our own training text: ImageNet-1k lemmas and WordNet definitions shipped with timm."""
    info = resources.files("timm.data") / "_info"
    synsets = set((info / "imagenet_synsets.txt").read_text().split())
    lines = []
    for name in ("imagenet_synset_to_lemma.txt", "imagenet_synset_to_definition.txt"):
        for line in (info / name).read_text().splitlines():
            synset, _, text = line.partition("\t")
            if synset in synsets:
                lines.append(text)
    return lines


def _write_clip_bpe(out_dir: Path) -> None:
    """Train a small byte-level BPE with CLIP's normalisation and ``</w>`` word ends; write vocab.json + merges.txt."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    alphabet = _byte_alphabet()
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=_EOS))
    bpe.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""), behavior="removed", invert=True
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    # Registering the word-end symbols up front fixes their ids; otherwise the trainer numbers
    # them in hash-map order and breaks ties between equally frequent merges differently per process.
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_SIZE + len(alphabet),
        initial_alphabet=alphabet,
        special_tokens=[c + "</w>" for c in alphabet],
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]
    ]
    # CLIP's vocabulary order: every byte, every byte ending a word, the merged tokens, the specials.
    tokens = [*alphabet, *(c + "</w>" for c in alphabet), *(left + right for left, right in merges), _BOS, _EOS]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges))
