import pytest

from synclr_ray import storage
from synclr_ray.captions.concepts import SHIPPED_FILES, load_catalog, load_source
from synclr_ray.config import ConfigError, load_config


@pytest.fixture(scope="module")
def captions_cfg():
    return load_config("paper-vitb16").captions


def test_shipped_sources(captions_cfg):
    sizes = {name: len(load_source(name, captions_cfg).concepts) for name in SHIPPED_FILES}
    assert sizes == {"aircraft": 100, "food101": 101, "flowers102": 102, "pets": 37, "places365": 365, "dtd": 47}
    assert load_source("places365", captions_cfg).group == "place"
    assert load_source("dtd", captions_cfg).group == "texture"


def test_imagenet_sources_come_from_timm(captions_cfg):
    in1k = load_source("imagenet1k", captions_cfg).concepts
    in21k = load_source("imagenet21k", captions_cfg).concepts
    assert in1k[:2] == ("tench", "goldfish") and len(in1k) > 990
    assert len(in21k) > 9000 and "goldfish" not in in21k


def test_default_mix_is_the_papers(captions_cfg):
    catalog = load_catalog(captions_cfg)
    weights = captions_cfg.sources
    total = sum(weights.values())
    share = lambda group: sum(weights[s.name] for s in catalog if s.group == group) / total  # noqa: E731
    assert share("object") == pytest.approx(0.91, abs=0.001)
    assert share("place") == pytest.approx(0.088, abs=0.001)
    assert share("texture") == pytest.approx(0.002, abs=0.0005)


def test_user_concept_file_local_and_s3(tmp_path, s3_bucket):
    path = tmp_path / "mine.txt"
    path.write_text("# my concepts\nred kite\n\nred kite\nbarn owl\n")
    uri = f"{s3_bucket}/concepts/birds.txt"
    storage.write_text(uri, "puffin\nosprey\n")
    cfg = load_config(
        "tiny",
        [
            f"captions.concept_files={{mine: {{uri: {path}}}, birds: {{uri: '{uri}', group: object}}}}",
            "captions.sources={mine: 1, birds: 1}",
        ],
    ).captions
    catalog = {s.name: s.concepts for s in load_catalog(cfg)}
    assert catalog == {"mine": ("red kite", "barn owl"), "birds": ("puffin", "osprey")}


def test_unreadable_or_unknown_sources_fail_clearly(tmp_path):
    cfg = load_config(
        "tiny", [f"captions.concept_files={{gone: {{uri: {tmp_path}/missing.txt}}}}", "captions.sources={gone: 1}"]
    )
    with pytest.raises(ValueError, match=r"captions.concept_files.gone: cannot read .*missing.txt"):
        load_catalog(cfg.captions)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    cfg = load_config(
        "tiny", [f"captions.concept_files={{e: {{uri: {tmp_path}/empty.txt}}}}", "captions.sources={e: 1}"]
    )
    with pytest.raises(ValueError, match="has no concepts"):
        load_catalog(cfg.captions)
    with pytest.raises(ValueError, match="captions.sources.nope: unknown concept source"):
        load_catalog(load_config("tiny", ["captions.sources={nope: 1}"]).captions)


def test_subset_per_source_is_deterministic():
    cfg = load_config("tiny", ["captions.max_concepts_per_source=5"]).captions
    assert load_source("imagenet1k", cfg) == load_source("imagenet1k", cfg)
    assert len(load_source("imagenet1k", cfg).concepts) == 5


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("captions.sources={imagenet1k: -1}", "captions': .*sources weights"),
        ("captions.templates={c: 0, c_bg: 0, c_rel: 0}", "captions': .*templates weights"),
        ("captions.templates={c: 1, c_xx: 1}", "captions.templates.c_xx"),
        ("captions.min_words=9", "captions': .*min_words"),
        ("captions.oversample=0.5", "captions.oversample'"),
        ("captions.concept_files={x: {uri: a, group: animal}}", "captions.concept_files.x.group'"),
    ],
)
def test_bad_caption_configs_name_the_field(override, field):
    with pytest.raises(ConfigError, match=f"config field '{field}"):
        load_config("tiny", [override, "captions.max_words=8"] if "min_words" in override else [override])
