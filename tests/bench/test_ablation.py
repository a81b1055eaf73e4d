"""bench/ablation.py's data: toy-world image rows that `synclr pretrain` reads, each caption with 4 renders."""

import importlib.util
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from synclr_ray import rows

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("bench_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toy_rows_are_committed_image_rows(ablation, tmp_path):
    folder = ablation.write_toy_rows(tmp_path / "images", captions=6, size=32, seed=0, files=2)
    files = rows.committed_files(str(folder), "image rows", "")  # what pretrain reads
    assert len(files) == 2
    table = pq.read_table(files[0])
    assert table.schema.equals(rows.IMAGE_SCHEMA, check_metadata=False) and table.num_rows == 3
    images = table.column("images")[0].as_py()
    assert len(images) == 4 and len(set(images)) == 4  # renders that differ in what the caption does not say
    assert Image.open(io.BytesIO(images[0])).size == (32, 32)


def test_toy_rows_keep_the_fixed_attributes(ablation, tmp_path):
    folder = ablation.write_toy_rows(tmp_path / "images", captions=8, size=32, seed=0, files=1, fixed={"shape": "star"})
    table = pq.read_table(rows.committed_files(str(folder), "image rows", "")[0])
    assert set(table.column("concept").to_pylist()) == {"star"}
    assert all("star" in caption for caption in table.column("caption").to_pylist())
