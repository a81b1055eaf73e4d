"""Building a real-size stand-in once per node: a file lock, a staging folder, an atomic rename."""

import pytest

from synclr_ray.realsize import build_once, config_path


def test_shipped_configs_are_found():
    assert config_path("llama-2-7b.json").is_file()
    assert config_path("sd15", "unet", "config.json").is_file()


def test_a_model_is_built_once_and_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCLR_CACHE", str(tmp_path))
    calls = []

    def build(out):
        calls.append(out)
        out.mkdir()
        (out / "config.json").write_text("{}")

    first = build_once("model-v1", "config.json", build)
    assert first == tmp_path / "model-v1" and (first / "config.json").is_file()
    assert build_once("model-v1", "config.json", build) == first
    assert len(calls) == 1 and calls[0] != first  # built in a staging folder, then renamed into place

    def broken(out):
        out.mkdir()
        (out / "partial").write_text("x")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        build_once("other-v1", "config.json", broken)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["model-v1"]
