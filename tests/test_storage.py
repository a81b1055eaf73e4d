import os

import pytest

from synclr_ray import storage


@pytest.fixture(params=["local", "s3", "gs", "abfs"])
def base(request, tmp_path, bucket_of):
    if request.param == "local":
        return str(tmp_path / "base")
    return f"{bucket_of(request.param)}/base"


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


@pytest.mark.parametrize("store", ["s3", "gs", "abfs"])
def test_local_copy_downloads_a_remote_dir_once_per_content(tmp_path, store, bucket_of, monkeypatch):
    bucket = bucket_of(store)
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"weights")
    storage.upload_dir(src, f"{bucket}/model")
    local = storage.local_copy(f"{bucket}/model")
    assert (local / "sub" / "w.bin").read_bytes() == b"weights"
    mtime = (local / "sub" / "w.bin").stat().st_mtime_ns
    assert storage.local_copy(f"{bucket}/model") == local  # cached: no second download
    assert (local / "sub" / "w.bin").stat().st_mtime_ns == mtime
    storage.write_bytes(f"{bucket}/model/sub/w.bin", b"new weights")  # rewritten in place
    fresh = storage.local_copy(f"{bucket}/model")
    assert fresh != local and (fresh / "sub" / "w.bin").read_bytes() == b"new weights"
    assert (local / "sub" / "w.bin").read_bytes() == b"weights"  # a copy in use is never changed under a reader
    with pytest.raises(FileNotFoundError, match="no directory"):
        storage.local_copy(f"{bucket}/absent")


def test_local_copy_by_digest_keeps_only_verified_downloads(tmp_path, s3_bucket, monkeypatch):
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "cache"))
    storage.write_bytes(f"{s3_bucket}/v1/w.bin", b"weights")

    def refuse(directory):
        raise ValueError(f"bad copy in {directory.name}")

    with pytest.raises(ValueError, match="bad copy"):
        storage.local_copy(f"{s3_bucket}/v1", digest="abc", verify=refuse)
    assert not (tmp_path / "cache" / "remote" / "abc").exists()
    local = storage.local_copy(f"{s3_bucket}/v1", digest="abc", verify=lambda d: None)
    assert local.name == "abc" and (local / "w.bin").read_bytes() == b"weights"
    assert sorted(p.name for p in local.parent.iterdir() if not p.name.endswith(".lock")) == ["abc"]


def test_local_writes_are_fsynced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd)
    )
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("rename", str(b))) or real_replace(a, b))
    target = tmp_path / "out" / "f.bin"
    storage.write_bytes(str(target), b"1")
    names = [(kind, path.rsplit("/", 1)[1]) for kind, path in events]
    assert names[-3][0] == "fsync" and names[-3][1].startswith(".f.bin.")  # the temp file's data
    assert names[-2] == ("rename", "f.bin")
    assert names[-1] == ("fsync", "out")  # the rename itself
    assert ("fsync", tmp_path.name) in names  # the new folder "out" in its parent


def test_sync_tree_fsyncs_every_file_and_folder(tmp_path, monkeypatch):
    (tmp_path / "round" / "a").mkdir(parents=True)
    (tmp_path / "round" / "a" / "x.parquet").write_bytes(b"x")
    (tmp_path / "round" / "y.parquet").write_bytes(b"y")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    storage.sync_tree(str(tmp_path / "round"))
    names = {path.removeprefix(str(tmp_path)) for path in synced}
    assert names == {"/round/a/x.parquet", "/round/y.parquet", "/round/a", "/round", ""}


def test_listing_skips_hidden_entries_below_the_root_only(tmp_path):
    base = tmp_path / ".cache" / "data"  # a hidden folder above the listed root, like ~/.cache
    storage.write_text(str(base / "kept.txt"), "x")
    storage.write_text(str(base / ".staging" / "skipped.txt"), "x")
    storage.write_text(str(base / "sub" / ".hidden.txt"), "x")
    assert storage.list_files(str(base)) == [str(base / "kept.txt")]


def test_schemes_pyarrow_lacks_go_through_fsspec():
    # fsspec's in-memory filesystem: the same calls as for local paths and object stores
    base = f"memory://synclr-test-{os.getpid()}"
    storage.write_json(storage.join(base, "a", "x.json"), {"k": 1})
    assert storage.read_json(f"{base}/a/x.json") == {"k": 1}
    assert storage.list_files(base, ".json") == [f"{base}/a/x.json"]
    storage.delete(base)
    assert not storage.exists(f"{base}/a/x.json")


def test_scheme_and_locality():
    assert [storage.scheme(u) for u in ("s3://b/k", "gs://b/k", "abfs://c@a/k", "/tmp/x", "file:///tmp/x", "a/b")] == [
        "s3",
        "gs",
        "abfs",
        "",
        "",
        "",
    ]
    assert storage.filesystem("file:///tmp/x")[1] == "/tmp/x"


def test_azure_uris_name_their_account_or_take_it_from_the_environment(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", "a2V5")
    account, container, path = storage.azure_location("abfss://runs@acme.dfs.core.windows.net/team/run/")
    assert (account, container, path) == (storage.AzureAccount("acme", "a2V5"), "runs", "team/run")
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    with pytest.raises(ValueError, match="AZURE_STORAGE_ACCOUNT_NAME"):
        storage.azure_location("abfs://runs/team")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "acme")
    assert storage.azure_location("abfs://runs/team")[0].name == "acme"
    with pytest.raises(ValueError, match="no container"):
        storage.azure_location("abfs://@acme.dfs.core.windows.net/team")


def test_an_azure_connection_string_gives_the_key_and_endpoints_of_its_account(monkeypatch):
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;BlobEndpoint=https://acme.blob.core.windows.net/",
    )
    account = storage.azure_location("abfs://runs/x")[0]
    assert account == storage.AzureAccount("acme", "a2V5", "https://acme.blob.core.windows.net/")
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY", raising=False)
    other = storage.azure_location("abfs://runs@other.dfs.core.windows.net/x")[0]
    assert other == storage.AzureAccount("other")  # another account: not the connection string's key
