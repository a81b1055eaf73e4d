"""Random-weight stand-ins of the paper's generators at their real sizes, from configs shipped here.

Nothing is downloaded: ``configs/`` holds the public configurations of Llama-2-7B and of the
Stable Diffusion 1.5 UNet, VAE, CLIP text encoder and scheduler. The builders save models in the
standard Hugging Face / diffusers layout, so the stages load them through the same
``from_pretrained`` path as the real checkpoints (``--set captions.model=DIR``); the real-size
test tier and ``bench/gpu.py`` use them. Their tokenizers are the tiny stand-ins' (small
vocabularies, ids valid for the real embedding tables): only the shapes are real.
"""

import shutil
import time
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path


def config_path(*parts: str) -> Path:
    """A file under the shipped ``configs/`` folder."""
    return Path(str(resources.files("synclr_ray.realsize").joinpath("configs", *parts)))


def build_once(name: str, marker: str, build: Callable[[Path], None]) -> Path:
    """``cache/name``, built once per node by ``build(tmp_dir)`` (file lock, then an atomic rename)."""
    from filelock import FileLock

    from synclr_ray.storage import cache_dir

    target = cache_dir() / name
    if (target / marker).exists():
        return target
    with FileLock(str(target) + ".lock"):
        if not (target / marker).exists():
            tmp = target.with_name(f".{name}.{uuid.uuid4().hex}")
            start = time.perf_counter()
            try:
                build(tmp)
                tmp.rename(target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"built {name} in {time.perf_counter() - start:.1f}s at {target}")
    return target
