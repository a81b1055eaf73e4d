"""``synclr embed-dataset`` as a user types it: shards that open as a dataset, equal to the encoder's own vectors,
resumable, refusing a mismatched rerun, from an ImageFolder or from Parquet on S3."""

import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synclr_ray import storage
from synclr_ray.encoder import load_encoder


def encoded(seed: int, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (20 + seed, 24, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def expected_vectors(encoder: str, data: list[bytes]) -> np.ndarray:
    return load_encoder(encoder).embed([Image.open(io.BytesIO(d)) for d in data], normalize=True)


@pytest.fixture
def image_folder(tmp_path):
    """An ImageFolder with splits and classes, a corrupt file, and metadata the input must skip."""
    root = tmp_path / "photos"
    files = {}
    for i, rel in enumerate(["train/cat/a.png", "train/cat/b.jpg", "train/dog/c.png", "val/dog/d.webp", "e.png"]):
        fmt = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[rel.rsplit(".", 1)[1]]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        files[rel] = encoded(i, fmt)
        (root / rel).write_bytes(files[rel])
    (root / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "_notes").mkdir()
    (root / "_notes" / "skip.png").write_bytes(encoded(9))
    return root, files


@pytest.mark.slow  # two runs and a refused one: about a minute here
def test_image_folder_to_shards_equal_to_the_encoder(synclr, ray_cluster, random_encoder, image_folder):
    root, files = image_folder
    out = root.parent / "emb"
    args = ["embed-dataset", "-e", random_encoder, "--input", str(root), "-o", str(out), "-s", "embed.shard_images=2"]
    ran = synclr(*args)
    assert ran.code == 0, ran.err
    assert ran.out == f"embedded 5 images into 3 shards under {out} (1 undecodable, listed under {out}/_errors)"

    table = pd.read_parquet(out)  # metadata beside the shards does not stop the usual tools
    assert sorted(table["id"]) == sorted(files)
    assert set(table["path"]) == {str(root / rel) for rel in files}
    got = np.stack(table.set_index("id").loc[list(files), "embedding"].to_numpy())
    np.testing.assert_allclose(got, expected_vectors(random_encoder, list(files.values())), atol=1e-4)
    assert pq.read_schema(next(out.glob("*.parquet"))).field("embedding").type == pa.list_(pa.float32(), 192)
    errors = [line for path in (out / "_errors").iterdir() for line in path.read_text().splitlines()]
    assert len(errors) == 1 and "train/dog/broken.png" in errors[0]

    # Resume: only the missing shard is embedded again; the others are left as they are.
    shards = sorted(out.glob("*.parquet"))
    kept = {path: path.stat().st_mtime_ns for path in shards[1:]}
    shards[0].unlink()
    ran = synclr(*args)
    assert ran.code == 0, ran.err
    assert sorted(out.glob("*.parquet")) == shards
    assert {path: path.stat().st_mtime_ns for path in shards[1:]} == kept
    assert len(pd.read_parquet(out)) == 5

    # Other vectors into the same folder are refused, naming the setting.
    ran = synclr(*args, "-s", "embed.normalize=false")
    assert ran.code == 1 and ran.err == (
        f"error: {out} holds embeddings made with normalize True, not False: use another --out, or delete that folder"
    )


def test_parquet_of_images_on_s3(synclr, ray_cluster, random_encoder, s3_bucket):
    """Rows like the images stage's (several images per caption) in and out of an object store."""
    data = [[encoded(i), encoded(i + 10)] for i in range(3)]
    table = pa.table({"caption_id": ["c0", "c1", "c2"], "images": data})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    storage.write_bytes(f"{s3_bucket}/in/part-0.parquet", buffer.getvalue())
    out = f"{s3_bucket}/emb"
    ran = synclr("embed-dataset", "-e", random_encoder, "--input", f"{s3_bucket}/in", "-o", out)
    assert ran.code == 0, ran.err
    fs, path = storage.filesystem(out)
    got = pq.read_table(path, filesystem=fs).to_pandas().set_index("id")
    ids = [f"c{i}/{k}" for i in range(3) for k in range(2)]
    assert sorted(got.index) == sorted(ids)
    np.testing.assert_allclose(
        np.stack(got.loc[ids, "embedding"].to_numpy()),
        expected_vectors(random_encoder, [img for pair in data for img in pair]),
        atol=1e-4,
    )
    assert storage.read_json(f"{out}/_manifest.json")["complete"] is True


def test_bad_input_is_one_line(synclr, random_encoder, tmp_path):
    (tmp_path / "notes.parquet").write_bytes(b"not parquet")
    ran = synclr("embed-dataset", "-e", random_encoder, "--input", str(tmp_path), "-o", str(tmp_path / "o"))
    assert ran.code == 1 and ran.err.startswith(f"error: {tmp_path / 'notes.parquet'} is not readable Parquet")
    empty = tmp_path / "empty"
    empty.mkdir()
    ran = synclr("embed-dataset", "-e", random_encoder, "--input", str(empty), "-o", str(tmp_path / "o"))
    assert ran.code == 1 and "no image files" in ran.err and ran.err.count("\n") == 0
    assert not os.path.exists(tmp_path / "o")
