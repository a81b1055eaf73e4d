"""The endpoint through real HTTP: equality with the in-process model, order, batching, limits, auth."""

import asyncio
import base64
import io
import struct
import zlib

import httpx
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from synclr_ray.device import fastest_precision
from synclr_ray.encoder import export_encoder


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def random_image(seed: int, size: tuple[int, int] = (40, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def post(url: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", timeout=60, **kwargs)


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes that claim a huge canvas: decoding them would allocate width*height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_embeddings_equal_in_process_features(server):
    images = [random_image(i, size=(40 + 8 * i, 48)) for i in range(3)]
    for pool in ("cls", "mean"):
        r = post(server.url, json={"images": [b64(png(img)) for img in images], "pool": pool, "normalize": False})
        assert r.status_code == 200, r.text
        body = r.json()
        expected = server.encoder.embed(images, pool=pool)
        assert body["dim"] == expected.shape[1] == 64
        np.testing.assert_allclose(np.array(body["embeddings"]), expected, atol=1e-4)
    normalized = post(server.url, json={"images": [b64(png(images[0]))]}).json()["embeddings"]
    np.testing.assert_allclose(normalized, server.encoder.embed(images[:1], normalize=True), atol=1e-4)


def test_model_info_and_health(server, export_dir):
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["architecture"] == "vit_tiny_patch16_224"
    assert (info["image_size"], info["feature_dim"]) == (32, 64)
    assert info["digest"] == server.encoder.info["digest"]
    assert info["id"] == f"vit_tiny_patch16_224@{info['digest'][:19]}"  # names the weights, not their storage
    assert export_dir not in httpx.get(f"{server.url}/v1/model").text
    embedded = post(server.url, json={"images": [b64(png(random_image(0)))]}).json()
    assert embedded["model"] == info["id"]
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert "/v1/embeddings" in httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert "swagger-ui" in httpx.get(f"{server.url}/docs").text


def test_concurrent_requests_keep_order_and_form_batches(server):
    """24 concurrent requests of 1-3 images, bad requests mixed in: each gets its own rows, in order."""
    images = [random_image(100 + i) for i in range(36)]
    expected = server.encoder.embed(images, normalize=True)
    groups = [list(range(k, k + 1 + k % 3)) for k in range(0, 36, 3)] * 2

    async def one(client: httpx.AsyncClient, index: list[int]) -> tuple[list[int], httpx.Response]:
        payload = {"images": [b64(png(images[i])) for i in index]}
        return index, await client.post(f"{server.url}/v1/embeddings", json=payload)

    async def bad(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"{server.url}/v1/embeddings", json={"images": [b64(b"not an image")]})

    async def run() -> tuple[list, list]:
        async with httpx.AsyncClient(timeout=60) as client:
            good = asyncio.gather(*(one(client, g) for g in groups))
            bads = asyncio.gather(*(bad(client) for _ in range(4)))
            return await asyncio.gather(good, bads)

    good, bads = asyncio.run(run())
    assert all(r.status_code == 400 for r in bads)
    batch_sizes = []
    for index, r in good:
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(np.array(r.json()["embeddings"]), expected[index], atol=1e-4)
        batch_sizes.append(int(r.headers["x-batch-size"]))
    assert max(batch_sizes) > 1, batch_sizes
    assert max(batch_sizes) <= 8  # serve.max_batch_size


def test_multipart_upload(server):
    images = [random_image(7), Image.new("L", (30, 30), 90)]
    files = [("images", (f"{i}.png", png(img), "image/png")) for i, img in enumerate(images)]
    r = post(server.url, files=files, data={"pool": "mean", "normalize": "false"})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(np.array(r.json()["embeddings"]), server.encoder.embed(images, pool="mean"), atol=1e-4)
    too_many = post(server.url, files=[files[0]] * 5)
    assert too_many.status_code == 413 and "at most 4" in too_many.json()["detail"]


def test_modes_are_converted(server):
    """Grayscale, CMYK JPEG and palette images embed; transparency is composited on white."""
    rgb = random_image(3)
    jpeg = io.BytesIO()
    rgb.convert("CMYK").save(jpeg, format="JPEG", quality=95)
    transparent = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    payload = [png(rgb.convert("L")), jpeg.getvalue(), png(rgb.convert("P")), png(transparent)]
    r = post(server.url, json={"images": [b64(d) for d in payload], "normalize": False})
    assert r.status_code == 200, r.text
    got = np.array(r.json()["embeddings"])
    white = server.encoder.embed([Image.new("RGB", (40, 40), "white")])
    np.testing.assert_allclose(got[3], white[0], atol=1e-4)
    np.testing.assert_allclose(got[0], server.encoder.embed([rgb.convert("L")])[0], atol=1e-4)


BAD_REQUESTS = {
    "malformed JSON": (dict(content=b'{"images": [', headers={"content-type": "application/json"}), 400, "JSON"),
    "deeply nested JSON": (dict(content=b"[" * 100_000, headers={"content-type": "application/json"}), 400, "JSON"),
    "bad base64": (dict(json={"images": ["@@not base64@@"]}), 400, "images[0]: not valid base64"),
    "non-image bytes": (dict(json={"images": [b64(b"hello world" * 10)]}), 400, "images[0]: not a JPEG"),
    "truncated image": (dict(json={"images": [b64(png(random_image(1))[:400])]}), 400, "truncated"),
    "empty list": (dict(json={"images": []}), 422, "images"),
    "missing images": (dict(json={"pool": "cls"}), 422, "images"),
    "too many images": (dict(json={"images": [b64(png(random_image(1)))] * 5}), 413, "at most 4"),
    "unknown pool": (dict(json={"images": [b64(png(random_image(1)))], "pool": "max"}), 422, "pool"),
    "unknown field": (dict(json={"images": [b64(png(random_image(1)))], "model": "x"}), 422, "model"),
    "body too large": (dict(json={"images": ["A" * 250_000]}), 413, "body"),
    "image too large": (dict(json={"images": [b64(png(Image.new("RGB", (250, 250))))]}), 413, "250x250"),
    "decompression bomb": (dict(json={"images": [b64(bomb_png(60_000, 60_000))]}), 413, "pixels"),
    "bomb by side": (dict(json={"images": [b64(bomb_png(1_000_000, 16))]}), 413, "per side (serve.max_image_side)"),
    "bomb by aspect ratio": (
        dict(json={"images": [b64(png(Image.new("L", (1600, 16))))]}),
        422,
        "images[0]: 1600x16 has an aspect ratio of 100:1",
    ),
    "request pixel budget": (
        dict(json={"images": [b64(png(Image.new("RGB", (170, 170))))] * 4}),
        413,
        "images[3]: images[0..3] add up to 115600 pixels",
    ),
    "integer too long for JSON": (
        dict(content=b'{"images": [' + b"1" * 5000 + b"]}", headers={"content-type": "application/json"}),
        400,
        "JSON",
    ),
    "wrong content type": (dict(content=b"images=1", headers={"content-type": "text/plain"}), 415, "content-type"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_bad_input_gets_4xx_json_and_server_stays_healthy(server, case: str):
    kwargs, status, detail = BAD_REQUESTS[case]
    r = post(server.url, **kwargs)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_good_request_after_bad_ones(server):
    assert post(server.url, json={"images": [b64(png(random_image(9)))]}).status_code == 200


def test_auth(server):
    payload = {"images": [b64(png(random_image(2)))]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {server.token}"}):
        r = post(server.secure_url, json=payload, headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        for route in ("/v1/model", "/openapi.json", "/docs"):
            assert httpx.get(f"{server.secure_url}{route}", headers=headers).status_code == 401, route
    auth = {"Authorization": f"Bearer {server.token}"}
    ok = post(server.secure_url, json=payload, headers=auth)
    assert ok.status_code == 200 and len(ok.json()["embeddings"]) == 1
    assert "/v1/embeddings" in httpx.get(f"{server.secure_url}/openapi.json", headers=auth).json()["paths"]
    assert "/secure/openapi.json" in httpx.get(f"{server.secure_url}/docs", headers=auth).text
    assert httpx.get(f"{server.secure_url}/healthz").status_code == 200  # probes need no token


def test_default_precision_is_the_fastest_and_close_to_fp32(server):
    auth = {"Authorization": f"Bearer {server.token}"}
    info = httpx.get(f"{server.secure_url}/v1/model", headers=auth).json()
    assert info["precision"] == fastest_precision("cpu")
    assert httpx.get(f"{server.url}/v1/model").json()["precision"] == "fp32"
    images = [random_image(20 + i) for i in range(4)]
    payload = {"images": [b64(png(img)) for img in images], "pool": "mean"}
    fast = np.array(post(server.secure_url, json=payload, headers=auth).json()["embeddings"])
    exact = np.array(post(server.url, json=payload).json()["embeddings"])
    np.testing.assert_allclose(exact, server.encoder.embed(images, pool="mean", normalize=True), atol=1e-4)
    assert ((fast * exact).sum(1) > 0.999).all()  # unit vectors: cosine similarity


@pytest.mark.slow  # Serve retries a failing replica three times, with back-off
def test_a_model_with_nan_weights_never_becomes_ready(server, tmp_path):
    """The replica's health check runs before it takes traffic: a broken export fails the deploy, naming why."""
    from ray import serve

    from synclr_ray.serving.app import AppArgs, app

    torch.manual_seed(0)
    args = {"img_size": 32, "patch_size": 8, "depth": 1, "embed_dim": 32, "num_heads": 2}
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, **args).eval()
    broken = export_encoder(vit, str(tmp_path / "export"), image_size=32, model_args=args)
    # export_encoder refuses non-finite weights: break the file afterwards, as another tool might have.
    weights = load_file(tmp_path / "export" / "model.safetensors")
    weights["blocks.0.attn.qkv.weight"][0, 0] = float("nan")
    save_file(weights, tmp_path / "export" / "model.safetensors")
    try:
        with pytest.raises(RuntimeError, match="Deploying application broken failed"):
            serve.run(app(AppArgs(encoder=broken, overrides=["serve.num_cpus=0.5"])), name="broken", route_prefix="/b")
        (deployment,) = serve.status().applications["broken"].deployments.values()
        assert "health check: the encoder's features are not finite" in deployment.message
    finally:
        serve.delete("broken")
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # the other apps are untouched


def _bare_replica(export_dir: str):
    """A replica object outside Serve: the class as written, under Serve's ASGI wrapper, on the fp32 tiny config."""
    from synclr_ray.config import load_config
    from synclr_ray.serving.app import EmbeddingServer

    return EmbeddingServer.func_or_class.__mro__[1](export_dir, load_config("tiny", ["serve.precision=fp32"]).serve)


def test_a_replica_whose_model_breaks_after_start_fails_its_health_check_and_healthz_says_why(ray_cluster, export_dir):
    """Serve restarts a replica whose ``check_health`` raises; until then ``/healthz`` answers 503 with the reason."""
    replica = _bare_replica(export_dir)
    asyncio.run(replica.check_health())
    assert asyncio.run(replica.healthz()).status_code == 200
    with torch.no_grad():
        next(replica.encoder.model.parameters()).fill_(float("nan"))  # weights broken after start
    with pytest.raises(RuntimeError, match="not finite"):
        asyncio.run(replica.check_health())
    unhealthy = asyncio.run(replica.healthz())
    assert unhealthy.status_code == 503 and b"not finite" in unhealthy.body


def test_a_request_is_decoded_one_image_at_a_time(ray_cluster, export_dir):
    """Limits are checked from the headers of all images before any is decoded; then each image's pixels exist
    only while it is turned into the model's input, so peak memory follows one image, not the request."""
    replica = _bare_replica(export_dir)
    data = []
    for colour in ("red", "navy", "olive"):
        buffer = io.BytesIO()
        Image.new("RGB", (120, 90), colour).save(buffer, format="PNG")
        data.append(buffer.getvalue())
    opened = replica._open_checked(data, "images")
    assert [image.size for image in opened] == [(120, 90)] * 3
    assert all(image._im is None for image in opened)  # headers only: no pixels decoded yet
    for index, image in enumerate(opened):
        pixels = replica._preprocess(image, f"images[{index}]")
        assert pixels.shape[-2:] == (32, 32)
        assert all(later._im is None for later in opened[index + 1 :])  # the next images are still undecoded
        assert type(image._im).__name__ == "DeferredError"  # closed: its pixels freed before the next is decoded
