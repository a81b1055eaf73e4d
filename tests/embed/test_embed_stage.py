"""The embedding actor's work on one unit: a shard of normalised vectors, undecodable images listed apart."""

import io
import json
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image

from synclr_ray.config.embed import EmbedConfig
from synclr_ray.embed.stage import ERRORS_DIR, ShardEmbedder, done_units, shard_schema
from synclr_ray.embed.units import plan_units
from synclr_ray.encoder import load_encoder


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (value, 255 - value, value // 2)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_unit_becomes_one_shard_of_the_encoders_normalised_cls_features(random_encoder, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(3):
        (source / f"{i}.png").write_bytes(_png(40 * i))
    (source / "3.png").write_bytes(b"truncated")
    unit = plan_units(str(source), shard_images=8)[0]
    out = str(tmp_path / "out")
    embedder = ShardEmbedder(random_encoder, out, EmbedConfig(batch_size=2, num_gpus=0))
    summary = embedder(pa.Table.from_pylist([asdict(unit)])).to_pylist()[0]
    assert (summary["rows"], summary["errors"], summary["failure"]) == (3, 1, None)
    assert done_units(out) == {unit.name}

    shard = pq.read_table(f"{out}/{unit.name}.parquet")
    assert shard.schema == shard_schema(192)
    assert shard["id"].to_pylist() == ["0.png", "1.png", "2.png"]
    vectors = np.array(shard["embedding"].to_pylist())
    encoder = load_encoder(random_encoder)
    with torch.no_grad():
        expected = encoder.model(torch.stack([encoder.transform(Image.open(io.BytesIO(_png(0))).convert("RGB"))]))
    expected = expected[0].numpy() / np.linalg.norm(expected[0].numpy())
    assert np.allclose(vectors[0], expected, atol=1e-4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    errors = [
        json.loads(line) for line in (tmp_path / "out" / ERRORS_DIR / f"{unit.name}.jsonl").read_text().splitlines()
    ]
    assert [e["id"] for e in errors] == ["3.png"] and errors[0]["reason"]
