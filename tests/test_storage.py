import os

import pytest

from synclr_ray import storage


@pytest.fixture(params=["local", "s3"])
def base(request, tmp_path, s3_bucket):
    return str(tmp_path / "base") if request.param == "local" else f"{s3_bucket}/base"


def test_round_trip_and_listing(base):
    storage.write_json(storage.join(base, "a", "x.json"), {"k": 1})
    storage.write_text(storage.join(base, "b.txt"), "hello")
    assert storage.read_json(storage.join(base, "a/x.json")) == {"k": 1}
    assert storage.read_text(storage.join(base, "b.txt")) == "hello"
    assert [p.rsplit("/", 1)[1] for p in storage.list_files(base)] == ["x.json", "b.txt"]
    assert storage.list_files(base, ".txt")[0].endswith("base/b.txt")
    assert storage.exists(storage.join(base, "b.txt"))
    storage.delete(storage.join(base, "b.txt"))
    assert not storage.exists(storage.join(base, "b.txt"))


def test_missing_paths(base):
    assert storage.list_files(storage.join(base, "nothing")) == []
    assert not storage.exists(storage.join(base, "nothing"))
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(storage.join(base, "nothing.bin"))


def test_local_write_is_atomic_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out" / "f.bin"
    storage.write_bytes(str(target), b"1")
    storage.write_bytes(str(target), b"2")
    assert target.read_bytes() == b"2"
    assert os.listdir(target.parent) == ["f.bin"]


def test_local_copy_downloads_s3_dir_once(tmp_path, s3_bucket):
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"weights")
    storage.upload_dir(src, f"{s3_bucket}/model")
    local = storage.local_copy(f"{s3_bucket}/model")
    assert (local / "sub" / "w.bin").read_bytes() == b"weights"
    storage.delete(f"{s3_bucket}/model")
    assert storage.local_copy(f"{s3_bucket}/model") == local  # cached: no second download
    with pytest.raises(FileNotFoundError, match="no directory"):
        storage.local_copy(f"{s3_bucket}/absent")
