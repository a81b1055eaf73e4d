"""Request parsing of the embedding endpoint: JSON, OpenAI and multipart bodies within the configured limits."""

import base64
import io

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from PIL import Image

from synclr_ray.config import load_config
from synclr_ray.serving.api import parse_request, public_model_id
from synclr_ray.serving.openai_api import ServedModel, install_error_handler

SERVED = ServedModel(id="vit@sha256:abc", dim=3, tokens_per_image=17, created=1)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client() -> TestClient:
    cfg = load_config("tiny", ["serve.max_images_per_request=2", "serve.max_body_bytes=5000"]).serve
    api = FastAPI()
    install_error_handler(api)

    @api.post("/v1/embeddings")
    async def embed(request: Request) -> dict:
        parsed = await parse_request(request, cfg, SERVED)
        return {"sizes": [len(i) for i in parsed.images], "pool": parsed.pool, "normalize": parsed.normalize,
                "field": parsed.field}  # fmt: skip

    return TestClient(api)


def test_json_openai_and_multipart_bodies_give_the_same_images(client):
    png = _png()
    b64 = base64.b64encode(png).decode()
    plain = client.post("/v1/embeddings", json={"images": [b64], "pool": "mean"}).json()
    assert plain == {"sizes": [len(png)], "pool": "mean", "normalize": True, "field": "images"}
    openai = client.post("/v1/embeddings", json={"input": f"data:image/png;base64,{b64}", "model": SERVED.id}).json()
    assert openai == {"sizes": [len(png)], "pool": "cls", "normalize": True, "field": "input"}
    files = [("images", ("a.png", png, "image/png"))]
    form = client.post("/v1/embeddings", files=files, data={"normalize": "false"}).json()
    assert form == {"sizes": [len(png)], "pool": "cls", "normalize": False, "field": "images"}


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        (dict(content=b"x", headers={"content-type": "text/plain"}), 415, "use application/json"),
        (dict(json={"images": ["AAAA"] * 3}), 413, "images: 3 images, at most 2"),
        (dict(json={"input": ["a", "b", "c"], "model": SERVED.id}), 413, "input: 3 images, at most 2"),
        (dict(json={"images": ["AAAA"], "pool": "max"}), 422, "pool"),
        (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "not valid JSON"),
        (dict(json={"images": ["A" * 6000]}), 413, "serve.max_body_bytes"),
        (dict(files=[("other", ("a.png", b"x", "image/png"))]), 422, "no file parts named 'images'"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(client, kwargs, status, message):
    answer = client.post("/v1/embeddings", **kwargs)
    assert answer.status_code == status
    assert message in answer.json()["detail"]


def test_the_public_model_id_is_architecture_and_short_digest_never_a_path():
    info = {"architecture": "vit_base_patch16_224", "digest": "sha256:" + "3f2a9c1b0d4e" + "f" * 52, "id": "s3://b/x"}
    assert public_model_id(info) == "vit_base_patch16_224@sha256:3f2a9c1b0d4e"
