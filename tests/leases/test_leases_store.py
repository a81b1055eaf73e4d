import pytest

from synclr_ray.leases.store import AzureStore, GCSStore, LocalStore, S3Store, conditional_store

STORES = {"local": LocalStore, "s3": S3Store, "gs": GCSStore, "abfs": AzureStore}


@pytest.fixture(params=list(STORES))
def store(request, tmp_path, bucket_of):
    if request.param == "local":
        uri = str(tmp_path / "root" / "_leases" / "x.json")
    else:
        uri = f"{bucket_of(request.param)}/r/_leases/x.json"
    store = conditional_store(uri)
    assert isinstance(store, STORES[request.param])
    return store


def test_create_is_exclusive(store):
    first = store.create(b"a")
    assert first is not None
    assert store.create(b"b") is None  # refused: the object exists
    assert store.read() == (b"a", first)


def test_replace_and_delete_only_from_the_version_last_read(store):
    assert store.read() is None and store.replace(b"x", "anything") is None and not store.delete("anything")
    old = store.create(b"one")
    new = store.replace(b"two", old)
    assert new is not None and new != old and store.read() == (b"two", new)
    assert store.replace(b"three", old) is None  # a stale version no longer wins
    if not isinstance(store, GCSStore):  # fake-gcs-server ignores ifGenerationMatch on DELETE (GCS honours it)
        assert not store.delete(old)
    assert store.read()[0] == b"two"
    assert store.delete(new)
    assert store.read() is None


def test_local_store_leaves_only_the_object(tmp_path):
    store = conditional_store(str(tmp_path / "x.json"))
    version = store.create(b"a")
    store.replace(b"b", version)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".x.json.lock")) == ["x.json"]


def test_other_schemes_are_refused():
    with pytest.raises(ValueError, match="run roots need conditional writes.*local paths and s3://, gs:// and abfs://"):
        conditional_store("hdfs://nn/run/_leases/x.json")
