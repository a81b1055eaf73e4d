"""``synclr pretrain`` as a user types it: a config the model cannot take fails in one line, before any work."""


def test_the_command_refuses_the_crop_in_one_line(synclr, tmp_path):
    ran = synclr("pretrain", "-c", "paper-vitl14", "--root", str(tmp_path / "run"), "-s", "train.crops.local_size=96")
    assert ran.code == 1 and ran.err.count("\n") == 0
    assert ran.err.startswith("error: ") and "train.crops.local_size" in ran.err
    assert not (tmp_path / "run").exists()
