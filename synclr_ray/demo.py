"""The whole system on the embedded tiny models, on one machine, with a summary of what went where.

Streaming pipeline (tiny Llama -> tiny SD-1.5 -> tiny ViT, all on the toy world) -> export -> probes
(the toy world's shapes, real handwritten digits), each next to a random-init baseline -> the Serve
endpoint answering one real HTTP request -> figures.
"""

import base64
import socket
import time
from typing import Any

import pyarrow.parquet as pq

from synclr_ray import rows, storage
from synclr_ray.config import Config
from synclr_ray.runroot import RunRoot

PCA_IMAGES = 4
GRID_ROWS = 6
# The toy world's shape, across colours, sizes, positions and rotations: only the captions
# tie it together, so it is what learning from generated images should add over random features.
PROBES = {"toyworld shape": "builtin://toyworld/probe/shape", "digits": "digits"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sample_images(stream_uri: str, out_dir: str, count: int) -> list[str]:
    """Copy the first image of the first ``count`` streamed captions to ``out_dir``; returns their URIs."""
    uris: list[str] = []
    for shard in rows.CommitLog(stream_uri).files():
        fs, path = storage.filesystem(shard)
        for row in pq.read_table(path, filesystem=fs, columns=["caption_id", "images"]).to_pylist():
            if len(uris) == count:
                return uris
            uri = storage.join(out_dir, f"{row['caption_id']}.jpg")
            storage.write_bytes(uri, row["images"][0])
            uris.append(uri)
    return uris


def _embed_over_http(cfg: Config, export: str, image_uri: str) -> dict[str, Any]:
    """Start the Serve app on a free loopback port, send one embedding request, shut Serve down."""
    import httpx
    from ray import serve

    from synclr_ray.serving.app import APP_NAME, build_app

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app(cfg.model_copy(update={"serve": cfg.serve.model_copy(update={"encoder": export})})),
                  name=APP_NAME, route_prefix="/")  # fmt: skip
        body = {"images": [base64.b64encode(storage.read_bytes(image_uri)).decode()], "pool": "cls", "normalize": True}
        started = time.perf_counter()
        response = httpx.post(f"http://127.0.0.1:{port}/v1/embeddings", json=body, timeout=120)
        response.raise_for_status()
        answer = response.json()
        return {"url": f"http://127.0.0.1:{port}/v1/embeddings", "dim": answer["dim"],
                "head": answer["embeddings"][0][:4], "latency_s": time.perf_counter() - started}  # fmt: skip
    finally:
        serve.shutdown()


def run_demo(cfg: Config, root: str, take_over_stale_lease: bool = False) -> dict[str, Any]:
    """Run everything under ``root`` and return a summary (also written to ROOT/demo.json)."""
    from synclr_ray.eval.pca import write_pca_figure
    from synclr_ray.eval.probe import format_report, run_probe
    from synclr_ray.images.grid import write_samples_grid
    from synclr_ray.pipeline import run_pipeline

    run = RunRoot(root)
    pipeline = run_pipeline(cfg, root, take_over_stale_lease=take_over_stale_lease)
    grid = write_samples_grid(root, GRID_ROWS, images_uri=run.stream)
    probes = {}
    for name, dataset in PROBES.items():
        report = run_probe(run.export, dataset, cfg, storage.join(run.eval, f"probe-{name.replace(' ', '-')}.json"))
        print(format_report(report))
        probes[name] = report["models"]
    inputs = _sample_images(run.stream, storage.join(run.figures, "pca-inputs"), PCA_IMAGES)
    pca = write_pca_figure(run.export, inputs, storage.join(run.figures, "pca.png"), cfg.eval)
    http = _embed_over_http(cfg, run.export, inputs[0])
    summary = {"pipeline": pipeline, "probes": probes, "serve": http, "figures": [grid, pca], "probe_dir": run.eval}
    storage.write_json(storage.join(root, "demo.json"), summary)
    return summary
