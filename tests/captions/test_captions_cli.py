import subprocess
import sys
from pathlib import Path

SYNCLR = str(Path(sys.executable).parent / "synclr")


def test_captions_help_documents_every_option():
    out = subprocess.run([SYNCLR, "captions", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--root", "--config", "--num-captions", "--set"):
        assert option in out


def test_bad_config_fails_before_any_work_with_one_line(tmp_path):
    proc = subprocess.run(
        [SYNCLR, "captions", "--root", str(tmp_path / "run"), "--set", "captions.temperature=-1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "captions.temperature" in proc.stderr
    assert not (tmp_path / "run").exists()
