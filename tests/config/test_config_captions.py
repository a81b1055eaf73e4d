"""The captions section: sampling-weight tables and caption length bounds that cannot work are refused."""

import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.captions import PAPER_SOURCE_WEIGHTS


def test_paper_mix_is_91_percent_objects():
    objects = sum(w for name, w in PAPER_SOURCE_WEIGHTS.items() if name not in ("places365", "dtd"))
    assert objects == pytest.approx(91.0, abs=0.01)
    assert load_config("paper-vitb16").captions.sources == PAPER_SOURCE_WEIGHTS


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("captions.sources={imagenet1k: 0}", "sources weights must be >= 0 with a positive sum"),
        ("captions.templates={c: 1, c_bg: -1}", "templates weights must be >= 0"),
        ("captions.templates={c: 1, c_odd: 1}", "captions.templates.c_odd"),
        ("captions.min_words=9", "min_words (9) must not exceed max_words"),
        ("captions.top_p=0", "captions.top_p"),
    ],
)
def test_unusable_settings_name_the_field(override, message):
    overrides = [override, "captions.max_words=8"] if "min_words" in override else [override]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config("tiny", overrides)


def test_user_concept_files_are_typed_sources():
    cfg = load_config("tiny", ["captions.concept_files={birds: {uri: s3://b/birds.txt}}"])
    assert cfg.captions.concept_files["birds"].group == "object"
    with pytest.raises(ConfigError, match="captions.concept_files.birds.group"):
        load_config("tiny", ["captions.concept_files={birds: {uri: b.txt, group: animal}}"])
