"""builtin:// artefacts: built once per cache, read through storage like any URI, rebuilt on a version bump.

These tests register a small builder module of their own and point the cache at a temporary
folder: they test the build machinery, not the stand-ins (tests/toyworld/ does that).
"""

import sys
import threading
import types
from pathlib import Path

import pytest

from synclr_ray import builtin, storage


@pytest.fixture
def counting_builder(tmp_path, monkeypatch) -> types.SimpleNamespace:
    """A builder ``builtin://counted`` that writes one file and counts its builds; the cache in tmp_path."""
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path / "cache"))
    module = types.ModuleType("counted_builder")
    module.VERSION = "v1"
    module.builds = 0

    def build(out_dir: Path) -> None:
        module.builds += 1
        (out_dir / "data").mkdir(parents=True)
        (out_dir / "data" / "words.txt").write_text(f"built {module.VERSION}\n")

    module.build = build
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(builtin.BUILDERS, "counted", module.__name__)
    return module


def test_a_builtin_uri_reads_like_a_file_and_builds_once(counting_builder):
    uri = "builtin://counted/data/words.txt"
    assert storage.read_text(uri) == "built v1\n"
    assert storage.exists(uri) and storage.list_files("builtin://counted/data") == [str(storage.local_copy(uri))]
    assert storage.model_source("builtin://counted") == str(storage.cache_dir() / "counted-v1")
    assert counting_builder.builds == 1
    assert not [p for p in storage.cache_dir().iterdir() if p.name.startswith(".")]  # no staging left over


def test_concurrent_first_uses_share_one_build(counting_builder):
    threads = [threading.Thread(target=builtin.built_dir, args=("counted",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counting_builder.builds == 1


def test_a_version_bump_builds_afresh(counting_builder, monkeypatch):
    assert storage.read_text("builtin://counted/data/words.txt") == "built v1\n"
    monkeypatch.setattr(counting_builder, "VERSION", "v2")
    assert storage.read_text("builtin://counted/data/words.txt") == "built v2\n"
    assert counting_builder.builds == 2


def test_a_failed_build_leaves_nothing_and_the_next_use_retries(counting_builder, monkeypatch):
    def broken(out_dir: Path) -> None:
        out_dir.mkdir(parents=True)
        raise RuntimeError("out of memory")

    monkeypatch.setattr(counting_builder, "build", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        builtin.built_dir("counted")
    assert not [p for p in storage.cache_dir().iterdir() if not p.name.endswith(".lock")]


def test_unknown_names_missing_paths_and_writes_are_refused(counting_builder):
    with pytest.raises(ValueError, match="unknown built-in artefact builtin://nope .*known: .*tiny-sd15"):
        storage.read_text("builtin://nope/x.txt")
    assert not storage.exists("builtin://counted/data/absent.txt")
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        storage.read_text("builtin://counted/data/absent.txt")
    with pytest.raises(FileNotFoundError, match="no 'data/absent' in the built artefact counted"):
        storage.model_source("builtin://counted/data/absent")
    with pytest.raises(ValueError, match="read-only"):
        storage.write_text("builtin://counted/data/words.txt", "overwritten")
    assert storage.read_text("builtin://counted/data/words.txt") == "built v1\n"
