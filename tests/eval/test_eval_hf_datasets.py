import io

import datasets
import numpy as np
import pytest
from PIL import Image

from synclr_ray import storage
from synclr_ray.eval.datasets import load_dataset

FEATURES = datasets.Features({"img": datasets.Image(), "fine_label": datasets.ClassLabel(names=["cat", "dog", "owl"])})


def _split(count: int, seed: int) -> datasets.Dataset:
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)) for _ in range(count)]
    return datasets.Dataset.from_dict({"img": images, "fine_label": [i % 3 for i in range(count)]}, features=FEATURES)


def test_saved_dataset_dict_becomes_labelled_rows_from_s3(ray_cluster, tmp_path, s3_bucket):
    datasets.DatasetDict({"train": _split(6, 0), "validation": _split(3, 1), "test": _split(3, 2)}).save_to_disk(
        str(tmp_path / "hf")
    )
    uri = f"{s3_bucket}/hf"
    storage.upload_dir(tmp_path / "hf", uri)
    data = load_dataset(uri)
    assert data.classes == ["cat", "dog", "owl"] and data.split_sizes == {"train": 6, "val": 3, "test": 3}
    rows = sorted(data.rows.take_all(), key=lambda r: r["id"])
    assert [r["id"] for r in rows[:2]] == ["test/000000000", "test/000000001"]
    assert [r["label"] for r in rows if r["split"] == "train"] == [0, 1, 2, 0, 1, 2]
    fifth = next(r for r in rows if r["id"] == "train/000000004")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fifth["image"]))), np.asarray(_split(6, 0)[4]["img"]))


def test_a_saved_dataset_without_an_evaluation_split_is_named(tmp_path):
    datasets.DatasetDict({"train": _split(3, 0)}).save_to_disk(str(tmp_path / "hf"))
    with pytest.raises(
        ValueError, match=rf"dataset {tmp_path / 'hf'}: needs splits train and validation .* found \['train'\]"
    ):
        load_dataset(str(tmp_path / "hf"))
