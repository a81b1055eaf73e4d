"""The CLIP tokenizer trained here: SD 1.5's tokenizer class and normalisation over our own BPE vocabulary."""

from transformers import CLIPTokenizer

from synclr_ray.toyworld.clip_tokenizer import BOS, EOS, clip_tokenizer, imagenet_text

TEXTS = ["a small red circle on a sandy beach", "two large blue squares on grass", "a purple triangle"] * 50


def test_imagenet_text_is_general_english():
    lines = imagenet_text()
    assert len(lines) > 1000 and any("dog" in line for line in lines)


def test_a_trained_tokenizer_loads_as_clip_and_round_trips_text(tmp_path):
    tokenizer = clip_tokenizer(TEXTS, tmp_path / "tok", model_max_length=16)
    assert isinstance(tokenizer, CLIPTokenizer) and tokenizer.model_max_length == 16
    again = CLIPTokenizer(vocab=str(tmp_path / "tok" / "vocab.json"), merges=str(tmp_path / "tok" / "merges.txt"))
    ids = tokenizer("A  Small RED circle").input_ids
    assert again("A  Small RED circle").input_ids == ids
    assert ids[0] == tokenizer.convert_tokens_to_ids(BOS) and ids[-1] == tokenizer.convert_tokens_to_ids(EOS)
    assert tokenizer.decode(ids, skip_special_tokens=True).strip() == "a small red circle"  # CLIP lowercases
    assert len(ids) < 2 + len("a small red circle")  # merges learnt: fewer tokens than characters


def test_training_is_deterministic(tmp_path):
    first = clip_tokenizer(TEXTS, tmp_path / "a", 16)
    second = clip_tokenizer(TEXTS, tmp_path / "b", 16)
    assert (tmp_path / "a" / "vocab.json").read_text() == (tmp_path / "b" / "vocab.json").read_text()
    assert first("purple triangle").input_ids == second("purple triangle").input_ids
