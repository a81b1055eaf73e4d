"""Built-in artefacts: ``builtin://NAME[/PATH]`` URIs, built once per node into the model cache.

The embedded default's stand-ins are not downloaded but built, deterministically, by this
package: the tiny Llama (``builtin://tiny-llama``), the tiny Stable Diffusion 1.5
(``builtin://tiny-sd15``) and the toy world's data (``builtin://toyworld``: concept list,
background table, probe sets). A ``builtin://`` URI reads like a local path or an ``s3://`` URI
(`synclr_ray.storage` resolves it): the first use on a node builds the artefact into
``<cache>/NAME-VERSION`` (file lock, staging folder, atomic rename); later uses, from any
process, find it there. A builder's ``VERSION`` bump builds it afresh.
"""

import importlib
import shutil
import time
import uuid
from pathlib import Path
from types import ModuleType

from filelock import FileLock

from synclr_ray import storage

SCHEME = "builtin://"
# name -> module defining ``VERSION: str`` and ``build(out_dir: Path) -> None``.
BUILDERS: dict[str, str] = {
    "tiny-llama": "synclr_ray.toyworld.llm",
    "tiny-sd15": "synclr_ray.toyworld.diffusion",
    "toyworld": "synclr_ray.toyworld.data",
}
DONE = ".complete"


def builder(name: str) -> ModuleType:
    """The module that builds artefact ``name``; a ValueError lists the known names."""
    if name not in BUILDERS:
        raise ValueError(f"unknown built-in artefact {SCHEME}{name} (known: {', '.join(BUILDERS)})")
    return importlib.import_module(BUILDERS[name])


def built_dir(name: str) -> Path:
    """The artefact's directory in this node's cache, built first if it is not there yet."""
    module = builder(name)
    target = storage.cache_dir() / f"{name}-{module.VERSION}"
    if (target / DONE).exists():
        return target
    with FileLock(f"{target}.lock"):
        if not (target / DONE).exists():
            staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            started = time.perf_counter()
            try:
                module.build(staging)
                (staging / DONE).touch()
                shutil.rmtree(target, ignore_errors=True)
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            print(f"built {SCHEME}{name} in {time.perf_counter() - started:.1f} s at {target}", flush=True)
    return target


def local_path(uri: str, must_exist: bool = True) -> Path:
    """The local path of ``builtin://NAME/PATH`` (building NAME first if needed); with ``must_exist``
    a path the artefact lacks raises FileNotFoundError naming it."""
    name, _, rest = uri.removeprefix(SCHEME).strip("/").partition("/")
    path = built_dir(name) / rest if rest else built_dir(name)
    if must_exist and not path.exists():
        raise FileNotFoundError(f"{uri}: no {rest!r} in the built artefact {name}")
    return path


def build_all(names: list[str], processes: int = 2) -> dict[str, Path]:
    """Build the named artefacts (those missing), up to ``processes`` at once, each in its own process."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    for name in names:
        builder(name)  # unknown names fail before any work
    if processes <= 1 or len(names) <= 1:
        return {name: built_dir(name) for name in names}
    with ProcessPoolExecutor(min(processes, len(names)), mp_context=get_context("spawn")) as pool:
        return dict(zip(names, pool.map(built_dir, names), strict=True))
