"""Embedding throughput and latency side by side: (a) Ray Serve, (b) raw batched forward, (c) plain FastAPI.

    python bench/serve.py [--arch vit_small_patch16_224] [--image-size 224] [--precision auto] [--sustain 60]

(a) is this project's endpoint (dynamic batching, serve.precision); (b) the same model's batched
forward in this process at the same precision, the limit; (c) a single-process FastAPI + uvicorn
server running the same model per request without batching, what one would write instead: in
plain fp32, and, when the endpoint computes in bf16/fp16, also at that precision, so that the
gain from batching and the gain from precision show apart. Each runs closed-loop at concurrency
1, 8 and 32 on loopback, one image per request, the modes interleaved in short slices so that
load from elsewhere on the machine hits them alike. Prints images/s, p50/p99 latency, errors, the
ratios at concurrency 32 (targets (a)/(b) >= 0.6, (a)/(c) >= 1.5), then a sustained run of (a)
with the replica's resident memory over time.
"""

import argparse
import asyncio
import base64
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

# This script shares its name with the `serve` package: keep its folder off the import path
# (Ray also hands the script's folder to its workers).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

LEVELS = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_export(arch: str, image_size: int, out: str) -> str:
    import timm

    from synclr_ray.encoder import export_encoder

    torch.manual_seed(0)
    vit = timm.create_model(arch, img_size=image_size, num_classes=0).eval()
    return export_encoder(vit, out, image_size=image_size, model_args={"img_size": image_size})


def make_payloads(count: int, size: int) -> list[str]:
    """Photo-like JPEGs (smooth noise), base64-encoded."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        small = Image.fromarray(rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8))
        img = small.resize((size, size), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


def summarize(name: str, conc: int, latencies: list[float], images: int, errors: int, seconds: float) -> dict:
    lat = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    row = {"mode": name, "c": conc, "img_s": images / seconds, "errors": errors}
    print(
        f"{name:<24} c={conc:<3} {row['img_s']:8.1f} img/s  p50 {np.percentile(lat, 50):8.1f} ms  "
        f"p99 {np.percentile(lat, 99):8.1f} ms  errors {errors}  requests {len(latencies)}",
        flush=True,
    )
    return row


async def closed_loop(url: str, payloads: list[str], conc: int, seconds: float, max_requests: int = 100_000) -> tuple:
    """``conc`` clients posting one image back-to-back until the deadline; returns (latencies, images, errors, s)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            nonlocal errors, sent
            i = k
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                body = {"images": [payloads[i % len(payloads)]], "normalize": True}
                start = time.perf_counter()
                try:
                    r = await client.post(url, json=body)
                    ok = r.status_code == 200 and len(r.json()["embeddings"]) == 1
                except Exception:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1
                i += conc

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conc)))
        elapsed = time.perf_counter() - start
    return latencies, len(latencies), errors, elapsed


def raw_loop(enc, images: list[Image.Image], conc: int, seconds: float) -> tuple:
    """(b): the batched forward at batch size = concurrency, inputs decoded once; same tuple as ``closed_loop``."""
    batch = enc.preprocess([images[i % len(images)] for i in range(conc)])
    latencies = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        enc.features(batch)
        latencies.append(time.perf_counter() - t)
    return latencies, conc * len(latencies), 0, time.perf_counter() - start


def compare(
    enc, images: list[Image.Image], urls: dict[str, str], payloads: list[str], seconds: float, rounds: int
) -> list[dict]:
    """All modes at each concurrency, interleaved in ``rounds`` slices so load drift hits them alike."""
    for url in urls.values():
        asyncio.run(closed_loop(url, payloads, 4, 2.0))  # warm up
    raw_loop(enc, images, 8, 1.0)
    rows = []
    for conc in LEVELS:
        totals = {name: ([], 0, 0, 0.0) for name in ["(b) raw batched forward", *urls]}
        for _ in range(rounds):
            for name in totals:
                if name in urls:
                    part = asyncio.run(closed_loop(urls[name], payloads, conc, seconds / rounds))
                else:
                    part = raw_loop(enc, images, conc, seconds / rounds)
                lat, n, err, el = totals[name]
                totals[name] = (lat + part[0], n + part[1], err + part[2], el + part[3])
        rows += [summarize(name, conc, *totals[name]) for name in totals]
    return rows


def plain_server(export: str, port: int, threads: int, precision: str) -> None:
    """(c): the straightforward server, one forward per request, FastAPI's threadpool for blocking work."""
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    from synclr_ray.encoder import load_encoder
    from synclr_ray.serving.decode import decode_base64, decode_rgb, open_image

    torch.set_num_threads(threads)
    enc = load_encoder(export, precision=precision)
    api = FastAPI()

    class Body(BaseModel):
        images: list[str]
        normalize: bool = True

    @api.post("/v1/embeddings")
    def embeddings(body: Body) -> dict:
        images = [decode_rgb(open_image(decode_base64(s, "images"), "images"), "images") for s in body.images]
        feats = enc.embed(images, normalize=body.normalize)
        return {"dim": feats.shape[1], "embeddings": feats.tolist()}

    @api.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    uvicorn.run(api, host="127.0.0.1", port=port, log_level="warning")


def wait_ready(url: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def replica_rss_mb() -> float:
    """Resident memory of this run's Serve replicas (descendants of this process), in MiB."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    total = 0.0
    for pid in parents:
        node = pid
        while node in parents and node != os.getpid() and node > 1:
            node = parents[node]
        if node != os.getpid():
            continue
        try:
            if b"ServeReplica" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")) / 1024
    return total


def sustained(url: str, payloads: list[str], seconds: float, conc: int = 32) -> None:
    """Closed-loop load on (a) for ``seconds``, sampling the replica's resident memory."""
    samples = []

    async def run() -> tuple:
        async def sampler() -> None:
            while True:
                samples.append(replica_rss_mb())
                await asyncio.sleep(max(seconds / 12, 1))

        task = asyncio.create_task(sampler())
        try:
            return await closed_loop(url, payloads, conc, seconds)
        finally:
            task.cancel()

    summarize(f"(a) sustained {seconds:.0f}s", conc, *asyncio.run(run()))
    samples.append(replica_rss_mb())
    warm = samples[1] if len(samples) > 2 else samples[0]
    print(
        f"replica RSS MiB over the run: {' '.join(f'{s:.0f}' for s in samples)}  "
        f"(growth after warm-up {samples[-1] - warm:+.0f} MiB, {100 * (samples[-1] - warm) / warm:+.1f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="vit_small_patch16_224", help="timm ViT to serve (random weights).")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--seconds", type=float, default=12, help="Measured seconds per mode and concurrency.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved slices the seconds are split into.")
    parser.add_argument("--sustain", type=float, default=60, help="Seconds of the sustained run (0 skips it).")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="serve.precision of (a), also used by (b); auto: what this CPU runs fastest.",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="Torch intra-op threads in every mode (1 is steadier on a busy machine).",
    )
    parser.add_argument("--plain-server", nargs=3, metavar=("EXPORT", "PORT", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_server:
        plain_server(args.plain_server[0], int(args.plain_server[1]), args.threads, args.plain_server[2])
        return

    import ray
    from ray import serve

    from synclr_ray.config import load_config
    from synclr_ray.encoder import load_encoder
    from synclr_ray.serving.app import build_app

    threads = args.threads
    torch.set_num_threads(threads)
    print(
        f"model {args.arch} @ {args.image_size}px, {os.cpu_count()} cores, torch threads {threads}, "
        f"precision {args.precision}, "
        f"{args.seconds:.0f}s per point in {args.rounds} interleaved slices",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        export = make_export(args.arch, args.image_size, f"{tmp}/export")
        payloads = make_payloads(64, args.image_size)
        enc = load_encoder(export, precision=args.precision)
        precision = enc.precision  # auto resolved as the replica resolves it
        images = [Image.open(io.BytesIO(base64.b64decode(p))).convert("RGB") for p in payloads]
        cfg = load_config(
            "tiny",
            [
                f"serve.encoder={export}",
                f"serve.max_batch_size={args.max_batch_size}",
                f"serve.max_ongoing_requests={2 * args.max_batch_size}",
                f"serve.torch_threads={threads}",
                f"serve.precision={precision}",
            ],
        )
        plain = {}  # precision -> (port, process) of the (c) servers
        for p in dict.fromkeys(["fp32", precision]):
            plain_port = free_port()
            command = [
                sys.executable,
                __file__,
                "--plain-server",
                export,
                str(plain_port),
                p,
                "--threads",
                str(threads),
            ]
            plain[p] = (plain_port, subprocess.Popen(command))
        ray.init(num_cpus=4, include_dashboard=False, _temp_dir=f"{tmp}/ray", log_to_driver=False)
        try:
            port = free_port()
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(build_app(cfg), name="bench", route_prefix="/")
            urls = {}
            for p, (plain_port, _) in plain.items():
                wait_ready(f"http://127.0.0.1:{plain_port}/healthz")
                urls[f"(c) plain FastAPI {p}"] = f"http://127.0.0.1:{plain_port}/v1/embeddings"
            urls[f"(a) Ray Serve {precision}"] = f"http://127.0.0.1:{port}/v1/embeddings"
            rows = compare(enc, images, urls, payloads, args.seconds, args.rounds)
            at = {row["mode"]: row["img_s"] for row in rows if row["c"] == LEVELS[-1]}
            served, limit = at[f"(a) Ray Serve {precision}"], at["(b) raw batched forward"]
            print(
                f"at c={LEVELS[-1]}: (a)/(b) = {served / limit:.2f} (target >= 0.6), "
                + ", ".join(f"(a)/(c {p}) = {served / at[f'(c) plain FastAPI {p}']:.2f}" for p in plain)
                + f" (target >= 1.5), errors (a) {sum(r['errors'] for r in rows if r['mode'].startswith('(a)'))}",
                flush=True,
            )
            for _, server in plain.values():
                server.terminate()
            if args.sustain > 0:
                sustained(urls[f"(a) Ray Serve {precision}"], payloads, args.sustain)
        finally:
            for _, server in plain.values():
                server.terminate()
                server.wait()
            serve.shutdown()
            ray.shutdown()


if __name__ == "__main__":
    main()
