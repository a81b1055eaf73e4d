"""The OpenAI shape of the endpoint, through the real ``openai`` client and plain HTTP against the running service."""

import base64
import io

import httpx
import numpy as np
import openai
import pytest
from PIL import Image


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def data_uri(img: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png(img)).decode()


def random_image(seed: int, size: tuple[int, int] = (40, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def client(base: str, token: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=60)


def model_id(base: str, token: str = "unused") -> str:
    (model,) = client(base, token).models.list().data
    return model.id


def legacy_embeddings(base: str, images: list[Image.Image], **options) -> np.ndarray:
    body = {"images": [base64.b64encode(png(img)).decode() for img in images], **options}
    response = httpx.post(f"{base}/v1/embeddings", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return np.array(response.json()["embeddings"], dtype=np.float32)


def test_openai_client_vectors_equal_the_images_body(server):
    images = [random_image(i, size=(40 + 8 * i, 48)) for i in range(3)]
    model = model_id(server.url)
    expected = legacy_embeddings(server.url, images)
    got = client(server.url).embeddings.create(model=model, input=[data_uri(img) for img in images])
    assert [row.index for row in got.data] == [0, 1, 2]
    np.testing.assert_allclose(np.array([row.embedding for row in got.data]), expected, atol=1e-4)
    np.testing.assert_allclose(expected, server.encoder.embed(images, normalize=True), atol=1e-4)
    assert got.model == model and got.object == "list"
    tokens = 3 * ((32 // 8) ** 2 + 1)  # 32 px input, patch 8: 16 patches and the class token per image
    assert (got.usage.prompt_tokens, got.usage.total_tokens) == (tokens, tokens)

    # pool and normalize as extra body fields, like the images body's
    raw = client(server.url).embeddings.create(
        model=model,
        input=[data_uri(images[0])],
        encoding_format="float",
        extra_body={"pool": "mean", "normalize": False},
    )
    np.testing.assert_allclose(
        raw.data[0].embedding, legacy_embeddings(server.url, images[:1], pool="mean", normalize=False)[0], atol=1e-4
    )


def test_base64_encoding_decodes_to_the_float_vectors(server):
    images = [random_image(10), random_image(11)]
    model = model_id(server.url)
    body = {"model": model, "input": [data_uri(img) for img in images]}
    floats = httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=60).json()
    packed = httpx.post(f"{server.url}/v1/embeddings", json={**body, "encoding_format": "base64"}, timeout=60).json()
    decoded = np.array([np.frombuffer(base64.b64decode(row["embedding"]), dtype="<f4") for row in packed["data"]])
    np.testing.assert_allclose(decoded, [row["embedding"] for row in floats["data"]], atol=1e-6)
    assert decoded.shape == (2, 64)


def test_models_list_and_retrieve(server):
    info = httpx.get(f"{server.url}/v1/model").json()
    listed = client(server.url).models.list().data
    assert [m.id for m in listed] == [info["id"]] and listed[0].owned_by == "synclr-ray"
    assert client(server.url).models.retrieve(info["id"]).id == info["id"]
    with pytest.raises(openai.NotFoundError):
        client(server.url).models.retrieve("text-embedding-3-small")


def test_urls_from_the_allow_list_are_fetched_others_refused(server):
    image = random_image(20)
    (server.files_dir / "allowed" / "a.png").write_bytes(png(image))
    (server.files_dir / "elsewhere" / "image.png").write_bytes(png(image))
    model = model_id(server.url)
    got = client(server.url).embeddings.create(
        model=model, input=[f"{server.files_url}/allowed/a.png", data_uri(image)]
    )
    np.testing.assert_allclose(got.data[0].embedding, got.data[1].embedding, atol=1e-5)

    refused = {
        f"{server.files_url}/elsewhere/image.png": "not under serve.url_allow_list",
        f"{server.files_url}/allowed/../elsewhere/image.png": "not under serve.url_allow_list",
        f"{server.files_url}/allowed/redirect": "redirects are not followed",
        f"{server.files_url}/allowed/missing.png": "HTTP 404",
    }
    for url, reason in refused.items():
        with pytest.raises(openai.BadRequestError) as err:
            client(server.url).embeddings.create(model=model, input=[data_uri(image), url])
        assert err.value.param == "input[1]" and reason in err.value.message, (url, err.value.message)


def test_fetched_bytes_count_against_the_body_limit(server):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (190, 190, 3), dtype=np.uint8))
    (server.files_dir / "allowed" / "big.png").write_bytes(png(noise))  # ~108 kB each; the limit is 200 kB
    model = model_id(server.url)
    url = f"{server.files_url}/allowed/big.png"
    body = {"model": model, "input": [url, url]}
    response = httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["param"] == "input[1]" and "serve.max_body_bytes" in response.text


def test_openai_errors_name_the_field(server):
    model = model_id(server.url)
    with pytest.raises(openai.NotFoundError) as err:
        client(server.url).embeddings.create(model="text-embedding-3-small", input=[data_uri(random_image(0))])
    assert err.value.param == "model"
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client(server.url).embeddings.create(model=model, input=["a photo of a cat"])
    assert err.value.param == "input[0]"
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client(server.url).embeddings.create(model=model, input=[data_uri(random_image(0))], dimensions=32)
    assert err.value.param == "dimensions"
    with pytest.raises(openai.APIStatusError) as err:
        client(server.url).embeddings.create(model=model, input=[data_uri(random_image(i)) for i in range(5)])
    assert err.value.status_code == 413 and err.value.param == "input"
    big = data_uri(Image.new("RGB", (300, 200), "teal"))  # 60,000 pixels, above serve.max_image_pixels
    with pytest.raises(openai.APIStatusError) as err:
        client(server.url).embeddings.create(model=model, input=[data_uri(random_image(0)), big])
    assert (
        err.value.status_code == 413 and err.value.param == "input[1]" and "serve.max_image_pixels" in err.value.message
    )


def test_openai_client_with_the_token(server):
    model = model_id(server.secure_url, server.token)
    image = random_image(30)
    got = client(server.secure_url, server.token).embeddings.create(model=model, input=[data_uri(image)])
    assert len(got.data[0].embedding) == 64
    with pytest.raises(openai.AuthenticationError):
        client(server.secure_url, "wrong-token").embeddings.create(model=model, input=[data_uri(image)])
    assert httpx.get(f"{server.secure_url}/v1/models").status_code == 401
