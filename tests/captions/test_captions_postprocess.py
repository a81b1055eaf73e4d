import numpy as np

from synclr_ray.captions.postprocess import clean, dedup_key, mark_captions, normalise, status


def test_first_line_only_and_stripped():
    assert clean(" A cat on a mat.\nsecond line") == "A cat on a mat."
    assert clean("\n  A dog runs.  \nmore") == "A dog runs."
    assert clean("   \n\n ") == ""


def test_length_and_empty_rules():
    assert status("", 3, 5) == "empty"
    assert status("two words", 3, 5) == "too_short"
    assert status("one two three", 3, 5) == "ok"
    assert status("one two three four five", 3, 5) == "ok"
    assert status("one two three four five six", 3, 5) == "too_long"


def test_dedup_key_normalises_case_space_and_end_punctuation():
    assert normalise('  "A  Cat sits."') == "a cat sits"
    assert dedup_key("A cat sits on a mat.") == dedup_key("a  cat sits on a mat")
    assert dedup_key("A cat sits on a mat.") != dedup_key("A dog sits on a mat.")
    assert 0 <= dedup_key("x") < 2**63


def test_mark_captions_batch():
    batch = {
        "caption_id": np.array(["a", "b", "c", "d"], dtype=object),
        "prompt": np.array(["p"] * 4, dtype=object),
        "generated_text": np.array([" A red fox in the snow.\nnext", "\n", " Fox.", " " + "word " * 70], dtype=object),
    }
    out = mark_captions(batch, min_words=3, max_words=60)
    assert "prompt" not in out and "generated_text" not in out
    assert list(out["caption"])[0] == "A red fox in the snow."
    assert list(out["status"]) == ["ok", "empty", "too_short", "too_long"]
    assert out["key"].dtype == np.int64
