"""The OpenAI shape of the endpoint: the served model, request checks, the answer body and OpenAI errors."""

import base64
import io

import numpy as np
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from PIL import Image

from synclr_ray.encoder import load_encoder
from synclr_ray.serving.openai_api import (
    OpenAIEmbeddingRequest,
    ServedModel,
    check_model,
    embeddings_body,
    install_error_handler,
    split_inputs,
)

SERVED = ServedModel(id="vit@sha256:abc", dim=3, tokens_per_image=17, created=1)


def _data_uri() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_served_model_counts_patches_plus_class_token(random_encoder):
    served = ServedModel.of(load_encoder(random_encoder), "m")
    assert served.tokens_per_image == (32 // 8) ** 2 + 1 and served.dim == 192
    assert served.card() == {"id": "m", "object": "model", "created": served.created, "owned_by": "synclr-ray"}


def test_another_models_id_or_dimension_is_refused():
    check_model(OpenAIEmbeddingRequest(input=["x"], model=SERVED.id, dimensions=3), SERVED)
    for body, status in ((dict(model="other"), 404), (dict(model=SERVED.id, dimensions=2), 422)):
        with pytest.raises(HTTPException) as err:
            check_model(OpenAIEmbeddingRequest(input=["x"], **body), SERVED)
        assert err.value.status_code == status


def test_inputs_split_into_decoded_images_and_allowed_urls():
    req = OpenAIEmbeddingRequest(input=[_data_uri(), "https://cdn.example.com/a.jpg"], model=SERVED.id)
    images, pending = split_inputs(req, ["https://cdn.example.com/"])
    assert images[0].startswith(b"\x89PNG") and images[1] is None
    assert pending == {1: "https://cdn.example.com/a.jpg"}
    with pytest.raises(HTTPException, match="input\\[1\\]"):
        split_inputs(req, [])  # no allow list: URLs are refused
    with pytest.raises(HTTPException, match="input\\[0\\]: expected a data:image"):
        split_inputs(OpenAIEmbeddingRequest(input=["plain text"], model=SERVED.id), [])


def test_base64_encoding_is_little_endian_float32_and_usage_counts_tokens():
    feats = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, 0.25]], np.float32)
    for fmt in ("float", "base64"):
        body = embeddings_body(
            feats, OpenAIEmbeddingRequest(input=["a", "b"], model=SERVED.id, encoding_format=fmt), SERVED
        )
        vectors = [d["embedding"] for d in body["data"]]
        if fmt == "base64":
            vectors = [np.frombuffer(base64.b64decode(v), "<f4").tolist() for v in vectors]
        assert vectors == feats.tolist() and [d["index"] for d in body["data"]] == [0, 1]
        assert body["usage"] == {"prompt_tokens": 34, "total_tokens": 34}


def test_errors_carry_openais_error_object_naming_the_field():
    api = FastAPI()
    install_error_handler(api)

    @api.get("/bad")
    def bad() -> None:
        raise HTTPException(422, "input[2]: not an image")

    @api.get("/denied")
    def denied() -> None:
        raise HTTPException(401, "missing bearer token")

    client = TestClient(api)
    answer = client.get("/bad").json()
    assert answer["detail"] == "input[2]: not an image"
    assert answer["error"] == {"message": "input[2]: not an image", "type": "invalid_request_error",
                               "param": "input[2]", "code": None}  # fmt: skip
    assert client.get("/denied").json()["error"]["type"] == "authentication_error"
    assert client.get("/denied").json()["error"]["param"] is None
