"""Fuzz and load test of the running endpoint (slow tier).

Over 20 kinds of bad request, each answered by a 4xx with a message, no 5xx and no replica
restart; then 60 s at concurrency 32 (within the app's capacity) without one failure; then far
above capacity, where the only refusals are 503 with Retry-After. Prints what every case got.
"""

import asyncio
import base64
import io
import json
import secrets
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import ray
from PIL import Image

pytestmark = pytest.mark.slow

TOKEN = "fuzz-" + secrets.token_hex(16)
# Serve counts a request as queued at the proxy until a replica takes it, so concurrency up to
# max_queued_requests is never shed, however briefly every request waits to be assigned.
MAX_ONGOING, MAX_QUEUED, RETRY_AFTER_S = 32, 32, 2
BODY_TIMEOUT_S = 5  # short for the slow-body rows, with room for a proxy that forwards slowly under overload
FUZZ_CONFIG = [
    "serve.precision=fp32",
    "serve.num_cpus=0.5",
    "serve.max_batch_size=16",
    "serve.batch_wait_timeout_s=0.01",
    f"serve.max_ongoing_requests={MAX_ONGOING}",
    f"serve.max_queued_requests={MAX_QUEUED}",
    f"serve.retry_after_s={RETRY_AFTER_S}",
    f"serve.request_timeout_s={BODY_TIMEOUT_S}",
    "serve.max_images_per_request=8",
    "serve.max_body_bytes=1000000",
    "serve.max_image_side=4096",
    "serve.max_aspect_ratio=8",
    "serve.max_image_pixels=4000000",
    "serve.max_request_pixels=6000000",
]
LOAD_SECONDS, LOAD_CONCURRENCY = 60, 32
OVERLOAD_SECONDS, OVERLOAD_CONCURRENCY = 10, 4 * (MAX_ONGOING + MAX_QUEUED)


def encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def png_header(width: int, height: int) -> bytes:
    """A valid PNG of a few hundred bytes whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


GOOD_PNG = encoded(noise((32, 32)))
JPEG = encoded(noise((96, 64), 1), "JPEG")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}


def one_image(data: bytes) -> dict:
    return {"json": {"images": [b64(data)]}, "headers": AUTH}


def raw(body: bytes, content_type: str | None = "application/json") -> dict:
    return {"content": body, "headers": {**AUTH, **({"content-type": content_type} if content_type else {})}}


async def chunks(total: int) -> Iterator[bytes]:
    """A JSON body sent chunked (no Content-Length), so only counting the bytes can stop it."""
    yield b'{"images": ["'
    for _ in range(total // 65536):
        yield b"A" * 65536
    yield b'"]}'


# kind -> keyword arguments of one POST /v1/embeddings (a callable for what must be fresh per use)
BAD_REQUESTS: dict[str, dict | Callable[[], dict]] = {
    "no token": {"json": {"images": [b64(GOOD_PNG)]}},
    "wrong token": {"json": {"images": [b64(GOOD_PNG)]}, "headers": {"Authorization": "Bearer " + "0" * 37}},
    "basic instead of bearer": {"json": {"images": [b64(GOOD_PNG)]}, "headers": {"Authorization": f"Basic {TOKEN}"}},
    "64 KB token": {"json": {"images": [b64(GOOD_PNG)]}, "headers": {"Authorization": "Bearer " + "x" * 65536}},
    "non-ASCII token": {
        "json": {"images": [b64(GOOD_PNG)]},
        "headers": {"Authorization": "Bearer t\u00f6ken".encode()},
    },
    "malformed JSON": raw(b'{"images": ['),
    "deeply nested JSON": raw(b"[" * 200_000),
    "integer too long for JSON": raw(b'{"images": [' + b"1" * 10_000 + b"]}"),
    "huge JSON (declared length)": raw(b'{"images": ["' + b"A" * 1_200_000 + b'"]}'),
    "huge JSON (chunked)": lambda: {"content": chunks(1_200_000), "headers": {**AUTH, **JSON}},
    "images not a list": {"json": {"images": b64(GOOD_PNG)}, "headers": AUTH},
    "image not a string": {"json": {"images": [12345]}, "headers": AUTH},
    "empty image list": {"json": {"images": []}, "headers": AUTH},
    "unknown field": {"json": {"images": [b64(GOOD_PNG)], "model": "gpt"}, "headers": AUTH},
    "too many images": {"json": {"images": [b64(GOOD_PNG)] * 9}, "headers": AUTH},
    "too many multipart files": {"files": [("images", ("a.png", GOOD_PNG, "image/png"))] * 9, "headers": AUTH},
    "text/plain body": raw(b"images=1", "text/plain"),
    "form-urlencoded body": raw(b"images=abc", "application/x-www-form-urlencoded"),
    "no content type": raw(b'{"images": []}', None),
    "multipart without boundary": raw(b'{"images": []}', "multipart/form-data"),
    "bad base64": {"json": {"images": ["@@@not-base64@@@"]}, "headers": AUTH},
    "not an image": one_image(b"hello world, not pixels" * 20),
    "GIF/JavaScript polyglot": one_image(b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1);//" + b"\0" * 64),
    "HTML then JPEG polyglot": one_image(b"<html><script>alert(1)</script></html>" + JPEG),
    "PNG signature on a JPEG body": one_image(b"\x89PNG\r\n\x1a\n" + JPEG[2:]),
    "truncated PNG": one_image(encoded(noise((64, 64)))[:300]),
    "truncated JPEG": one_image(JPEG[: len(JPEG) // 2]),
    "zero-width PNG": one_image(png_header(0, 16)),
    "bomb by area": one_image(png_header(3000, 3000)),
    "bomb by side": one_image(png_header(1_000_000, 16)),
    "bomb by aspect ratio": one_image(png_header(4000, 16)),
    "decompression bomb": one_image(png_header(60_000, 60_000)),
    "request pixel budget": {"json": {"images": [b64(png_header(1500, 1500))] * 3}, "headers": AUTH},
}


async def slow_body(url: str, extra_headers: str = "") -> tuple[int, str]:
    """POST a body that trickles one byte every half second; returns the status and body the server answers."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"POST {parts.path}/v1/embeddings HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 100000\r\n{extra_headers}\r\n"
    )
    writer.write(head.encode())

    async def trickle() -> None:
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.5)

    sender = asyncio.create_task(trickle())
    try:
        status = int((await asyncio.wait_for(reader.readline(), 60)).split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", 0)))
    finally:
        sender.cancel()
        writer.close()
    return status, json.loads(body).get("detail", "") if body.startswith(b"{") else body.decode()


def replica_names(app_name: str) -> set[str]:
    """Serve replicas are named actors; a restarted replica comes back under a new name."""
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if f"::{app_name}#" in a["name"]}


@pytest.fixture(scope="module")
def fuzz_url(server, export_dir, tmp_path_factory) -> Iterator[str]:
    """The endpoint with auth and the capacity above, next to the package's apps."""
    from ray import serve

    from synclr_ray.serving.app import AppArgs, app

    token_file = tmp_path_factory.mktemp("fuzz-secret") / "token"
    token_file.write_text(TOKEN)
    overrides = [*FUZZ_CONFIG, "serve.auth=required", f"serve.auth_token_file={token_file}"]
    serve.run(app(AppArgs(encoder=export_dir, overrides=overrides)), name="fuzz", route_prefix="/fuzz")
    try:
        yield f"{server.url}/fuzz"
    finally:
        serve.delete("fuzz")


def detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return response.text


def print_table(capsys: pytest.CaptureFixture, title: str, rows: list[tuple]) -> None:
    with capsys.disabled():
        print(f"\n{title}")
        for row in rows:
            print("  " + " | ".join(str(cell) for cell in row))


def test_every_kind_of_bad_request_gets_a_4xx_with_a_message(fuzz_url, capsys):
    before = replica_names("fuzz")
    assert before, "no replica of the fuzz app found"

    async def run() -> list[tuple[str, int, str]]:
        rows = []
        async with httpx.AsyncClient(timeout=120) as client:
            for kind, spec in BAD_REQUESTS.items():
                kwargs = spec() if callable(spec) else spec
                r = await client.post(f"{fuzz_url}/v1/embeddings", **kwargs)
                rows.append((kind, r.status_code, detail(r)))
            r = await client.get(f"{fuzz_url}/v1/embeddings", headers=AUTH)
            rows.append(("wrong method", r.status_code, detail(r)))
        rows.append(("slow body", *await slow_body(fuzz_url)))
        rows.append(("slow body, proxy timeout off", *await slow_body(fuzz_url, "x-request-timeout-seconds: 0\r\n")))
        return rows

    rows = asyncio.run(run())
    print_table(capsys, f"fuzz: {len(rows)} kinds of bad request", [(k, s, m[:110]) for k, s, m in rows])
    assert len(rows) >= 20
    for kind, status, message in rows:
        assert 400 <= status < 500, (kind, status, message)
        assert message.strip(), (kind, status)
    slow = [(s, m) for k, s, m in rows if k.startswith("slow body")]
    assert all(s == 408 and "serve.request_timeout_s" in m for s, m in slow), slow
    ok = httpx.post(f"{fuzz_url}/v1/embeddings", json={"images": [b64(GOOD_PNG)]}, headers=AUTH, timeout=60)
    assert ok.status_code == 200, ok.text
    assert replica_names("fuzz") == before, "a replica restarted"


async def closed_loop(url: str, concurrency: int, seconds: float) -> tuple[list[float], Counter, list[str | None]]:
    """``concurrency`` clients each sending one request after the other; latencies, statuses, Retry-After values."""
    payload = {"images": [b64(GOOD_PNG)]}
    latencies: list[float] = []
    statuses: Counter = Counter()
    retry_after: list[str | None] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    r = await client.post(f"{url}/v1/embeddings", json=payload, headers=AUTH)
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    latencies.append(time.monotonic() - started)
                else:
                    retry_after.append(r.headers.get("retry-after"))
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses, retry_after


def test_load_within_capacity_has_no_failures_and_overload_sheds_with_retry_after(fuzz_url, capsys):
    before = replica_names("fuzz")
    latencies, statuses, _ = asyncio.run(closed_loop(fuzz_url, LOAD_CONCURRENCY, LOAD_SECONDS))
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"), float("nan"))
    rows = [
        (
            f"{LOAD_SECONDS} s at concurrency {LOAD_CONCURRENCY}",
            dict(statuses),
            f"{len(latencies) / LOAD_SECONDS:.1f} req/s",
        ),
        ("", "latency p50 / p99", f"{p50:.3f} s / {p99:.3f} s"),
    ]
    over_latencies, over, retry_after = asyncio.run(closed_loop(fuzz_url, OVERLOAD_CONCURRENCY, OVERLOAD_SECONDS))
    rows.append(
        (
            f"{OVERLOAD_SECONDS} s at concurrency {OVERLOAD_CONCURRENCY}",
            dict(over),
            f"Retry-After {Counter(retry_after)}",
        )
    )
    print_table(capsys, f"load: capacity {MAX_ONGOING} ongoing + {MAX_QUEUED} queued per replica, 1 replica", rows)

    assert set(statuses) == {200}, statuses
    assert set(over) <= {200, 503, 429}, over
    assert over[503] + over[429] > 0, "nothing was shed far above capacity"
    assert over[200] > 0 and over_latencies
    assert set(retry_after) == {str(RETRY_AFTER_S)}, Counter(retry_after)
    assert replica_names("fuzz") == before, "a replica restarted"
