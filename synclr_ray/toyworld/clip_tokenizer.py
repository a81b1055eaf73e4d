"""A CLIP tokenizer trained here: SD 1.5's tokenizer class and normalisation with our own BPE vocabulary.

Nothing can be downloaded, so the vocabulary is learnt from text we have: general English
(ImageNet lemmas and WordNet definitions shipped with timm) plus the captions a model is fitted on.
"""

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
VOCAB_SIZE = 2048


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP's reversible byte -> printable character table, in CLIP's vocabulary order."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def imagenet_text() -> list[str]:
    """ImageNet-1k lemmas and WordNet definitions shipped with timm: general English to train on."""
    info = resources.files("timm.data") / "_info"
    synsets = set((info / "imagenet_synsets.txt").read_text().split())
    lines = []
    for name in ("imagenet_synset_to_lemma.txt", "imagenet_synset_to_definition.txt"):
        for line in (info / name).read_text().splitlines():
            synset, _, text = line.partition("\t")
            if synset in synsets:
                lines.append(text)
    return lines


def clip_tokenizer(texts: Iterable[str], out_dir: Path, model_max_length: int) -> CLIPTokenizer:
    """A CLIP tokenizer whose byte-level BPE (CLIP's normalisation, ``</w>`` word ends) is trained on ``texts``.

    Its vocab.json and merges.txt are written to ``out_dir`` (a scratch folder).
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    alphabet = _byte_alphabet()
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=EOS))
    bpe.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""), behavior="removed", invert=True
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    # Registering the word-end symbols up front fixes their ids; otherwise the trainer numbers
    # them in hash-map order and breaks ties between equally frequent merges differently per process.
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE + len(alphabet),
        initial_alphabet=alphabet,
        special_tokens=[c + "</w>" for c in alphabet],
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]
    ]
    # CLIP's vocabulary order: every byte, every byte ending a word, the merged tokens, the specials.
    tokens = [*alphabet, *(c + "</w>" for c in alphabet), *(left + right for left, right in merges), BOS, EOS]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges))
    return CLIPTokenizer(
        vocab=str(out_dir / "vocab.json"), merges=str(out_dir / "merges.txt"), model_max_length=model_max_length
    )
