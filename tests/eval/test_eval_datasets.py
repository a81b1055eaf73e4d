from pathlib import Path

import numpy as np
import pytest

from synclr_ray import storage
from synclr_ray.eval.datasets import DIGITS, load_dataset


@pytest.mark.parametrize("where", ["local", "s3"])
def test_image_folder_rows_carry_class_and_split(ray_cluster, tmp_path, s3_bucket, image_folder_writer, where):
    root = str(tmp_path / "data") if where == "local" else f"{s3_bucket}/data"
    image_folder_writer(root, {"train": 3, "val": 2})
    storage.write_text(f"{root}/train/red/notes.txt", "not an image")
    data = load_dataset(root)
    assert data.classes == ["blue", "green", "red"]
    assert data.split_sizes == {"train": 9, "val": 6}
    rows = data.rows.take_all()
    assert len(rows) == 15
    for row in rows:
        folder_split, folder_class = row["id"].split("/")[-3:-1]
        assert row["split"] == folder_split and data.classes[row["label"]] == folder_class
        assert row["image"][:8] == b"\x89PNG\r\n\x1a\n"


def test_digits_is_real_stratified_and_fixed(ray_cluster):
    data = load_dataset(DIGITS)
    assert data.classes == [str(d) for d in range(10)]
    assert data.split_sizes == {"train": 1257, "test": 540}
    rows = data.rows.take_all()
    labels = np.array([r["label"] for r in rows])
    test = np.array([r["split"] == "test" for r in rows])
    assert len(rows) == 1797 and np.bincount(labels).min() >= 170
    assert all(0.25 < test[labels == c].mean() < 0.35 for c in range(10))
    assert [r["id"] for r in rows if r["split"] == "test"] == [
        r["id"] for r in load_dataset(DIGITS).rows.take_all() if r["split"] == "test"
    ]


def test_missing_split_is_named(tmp_path: Path, image_folder_writer):
    image_folder_writer(str(tmp_path), {"train": 1})
    with pytest.raises(ValueError, match=r"missing split folder: needs train/ and val/ or test/, found \['train'\]"):
        load_dataset(str(tmp_path))
    with pytest.raises(ValueError, match="no such directory"):
        load_dataset(str(tmp_path / "nowhere"))


def test_empty_class_folder_is_named(tmp_path: Path, image_folder_writer):
    image_folder_writer(str(tmp_path), {"train": 1, "test": 1})
    (tmp_path / "test" / "purple").mkdir()
    with pytest.raises(ValueError, match="empty class folder test/purple"):
        load_dataset(str(tmp_path))


def test_class_folders_must_match_across_splits(tmp_path: Path, image_folder_writer):
    image_folder_writer(str(tmp_path), {"train": 1, "test": 1})
    for image in (tmp_path / "test" / "red").iterdir():
        image.unlink()
    (tmp_path / "test" / "red").rmdir()
    with pytest.raises(ValueError, match=r"test/ class folders \['blue', 'green'\] differ from train/"):
        load_dataset(str(tmp_path))
