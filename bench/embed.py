"""Offline embedding (`synclr embed-dataset`) beside the Serve path, images/s per core, in one run.

    python bench/embed.py [--images 512] [--arch vit_small_patch16_224] [--image-size 224] [--cpus 2]

Both embed the same JPEGs with the same random-weight export in fp32 on the CPU, each given
``--cpus`` logical CPUs (and as many torch threads): (a) the Ray Data actor pool of
`embed-dataset` writing Parquet shards, one actor; (b) the Serve endpoint, one replica, fed
OpenAI-shaped requests of 16 images by 4 concurrent clients on loopback. Prints wall-clock
images/s and images/s per core of each and their ratio: (a) includes starting its actor and
loading the model, as every job pays it; (b) starts timing after a warm-up request. Works at small sizes (e.g. --images 64 --image-size 32 --arch
vit_tiny_patch16_224); the figures mean something only on a quiet machine.
"""

import argparse
import base64
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import ray
import timm
import torch
from PIL import Image

# bench/serve.py would shadow the `serve` package of the repository root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from synclr_ray.config import load_config  # noqa: E402
from synclr_ray.embed.stage import run_embed_dataset  # noqa: E402
from synclr_ray.encoder import export_encoder  # noqa: E402


def write_images(folder: Path, count: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"{i:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def offline(cfg_overrides: list[str], export: str, images: Path, out: Path) -> float:
    """Images/s of one embed-dataset run, actor start and model load included."""
    cfg = load_config("tiny", cfg_overrides)
    started = time.perf_counter()
    manifest = run_embed_dataset(cfg, export, str(images), str(out))
    return manifest["rows"] / (time.perf_counter() - started)


def served(cfg_overrides: list[str], export: str, files: list[Path]) -> float:
    """Images/s of the endpoint under 4 concurrent clients sending 16 images per request."""
    from ray import serve

    from synclr_ray.serving.app import build_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = load_config("tiny", [*cfg_overrides, f"serve.encoder={export}"])
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(cfg), name="bench", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    model = httpx.get(f"{url}/v1/models").json()["data"][0]["id"]
    uris = ["data:image/jpeg;base64," + base64.b64encode(p.read_bytes()).decode() for p in files]
    chunks = [uris[i : i + 16] for i in range(0, len(uris), 16)]

    def post(chunk: list[str]) -> int:
        body = {"model": model, "input": chunk, "encoding_format": "base64"}
        response = httpx.post(f"{url}/v1/embeddings", json=body, timeout=600)
        response.raise_for_status()
        return len(response.json()["data"])

    post(chunks[0])  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        done = sum(pool.map(post, chunks))
    rate = done / (time.perf_counter() - started)
    serve.shutdown()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--arch", default="vit_small_patch16_224")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--cpus", type=int, default=2, help="Logical CPUs (and torch threads) given to each path.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        files = write_images(tmp / "images", args.images, args.image_size)
        torch.manual_seed(0)
        model = timm.create_model(args.arch, num_classes=0, img_size=args.image_size)
        export = export_encoder(model, str(tmp / "export"), args.image_size, {"img_size": args.image_size})
        ray.init(num_cpus=max(8, 2 * args.cpus), include_dashboard=False, log_to_driver=False)
        common = ["ray.progress_bars=false", "embed.batch_size=32", f"embed.shard_images={max(16, args.images // 4)}"]
        embed_cfg = [*common, f"embed.num_cpus={args.cpus}", "embed.pool={min_size: 1, max_size: 1}"]
        serve_cfg = [*common, f"serve.num_cpus={args.cpus}", f"serve.torch_threads={args.cpus}", "serve.precision=fp32"]
        a = offline(embed_cfg, export, tmp / "images", tmp / "out")
        b = served(serve_cfg, export, files)
        ray.shutdown()
    print(f"{args.images} images of {args.image_size} px, {args.arch}, fp32, {args.cpus} CPUs per path")
    print(f"{'path':<28}{'images/s':>12}{'images/s/core':>16}")
    for name, rate in (("embed-dataset (Ray Data)", a), ("Serve (OpenAI requests)", b)):
        print(f"{name:<28}{rate:>12.1f}{rate / args.cpus:>16.2f}")
    print(f"ratio embed-dataset / Serve: {a / b:.2f}")


if __name__ == "__main__":
    main()
