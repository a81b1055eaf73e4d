"""``synclr captions`` as a user types it: its options are documented, a bad config fails before any work."""


def test_captions_help_documents_every_option(synclr):
    ran = synclr("captions", "--help")
    assert ran.code == 0
    for option in ("--root", "--config", "--num-captions", "--set"):
        assert option in ran.out


def test_bad_config_fails_before_any_work_with_one_line(synclr, tmp_path):
    ran = synclr("captions", "--root", str(tmp_path / "run"), "--set", "captions.temperature=-1")
    assert ran.code == 1 and ran.err.count("\n") == 0
    assert ran.err.startswith("error: ") and "captions.temperature" in ran.err
    assert not (tmp_path / "run").exists()
