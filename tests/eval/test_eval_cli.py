import sys

import pytest
from PIL import Image

from synclr_ray.cli import main


def run_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["synclr", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


def test_pca_takes_image_files_as_arguments(monkeypatch, tiny_export, tmp_path, capsys):
    images = []
    for i in range(3):
        images.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (32, 32), (80 * i, 40, 120)).save(images[-1])
    out = tmp_path / "fig.png"
    code = run_cli(monkeypatch, "pca", "--encoder", tiny_export, "--out", str(out), "-s", "eval.pca_tile=32", *images)
    assert code == 0 and Image.open(out).size == (3 * 32, 24 + 3 * 32)


def test_probe_errors_are_one_line(ray_cluster, monkeypatch, tmp_path, capsys):
    (tmp_path / "data" / "train" / "a").mkdir(parents=True)
    code = run_cli(monkeypatch, "probe", "--encoder", str(tmp_path), "--dataset", str(tmp_path / "data"))
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0 and "lacks model.safetensors, config.json" in err
