import pytest

from synclr_ray.config import ConfigError, load_config, preset_names
from synclr_ray.runroot import save_config


def test_presets_ship_and_validate():
    assert {"tiny", "paper-vitb16", "paper-vitl14"} <= set(preset_names())
    for name in preset_names():
        assert load_config(name).name == name


def test_paper_presets_hold_paper_values():
    b16 = load_config("paper-vitb16")
    assert b16.captions.temperature == 0.8 and b16.captions.top_p == 0.9
    assert b16.images.guidance_scale == 2.5 and b16.images.images_per_caption == 4
    assert b16.train.backbone.name == "vit_base_patch16_224"
    assert load_config("paper-vitl14").train.backbone.name == "vit_large_patch14_224"


def test_dotted_overrides_are_typed():
    cfg = load_config("tiny", ["captions.temperature=0.7", "images.pool.max_size=3", "ray.address=auto"])
    assert cfg.captions.temperature == 0.7
    assert cfg.images.pool.max_size == 3
    assert cfg.ray.address == "auto"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("captions.temperature=-1", "captions.temperature"),
        ("captions.engine=gpt", "captions.engine"),
        ("captions.no_such_field=1", "captions.no_such_field"),
        ("images.pool.min_size=0", "images.pool.min_size"),
    ],
)
def test_invalid_values_name_the_field(override, field):
    with pytest.raises(ConfigError, match=f"config field '{field}'"):
        load_config("tiny", [override])


def test_malformed_override_and_unknown_source():
    with pytest.raises(ConfigError, match="section.field=value"):
        load_config("tiny", ["captions.temperature"])
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config("no-such-preset")


def test_yaml_file_and_s3_sources(tmp_path, s3_bucket):
    path = tmp_path / "exp.yaml"
    path.write_text("name: mine\ncaptions: {num_captions: 7}\n")
    assert load_config(str(path)).captions.num_captions == 7
    saved = save_config(load_config(str(path)), f"{s3_bucket}/run/captions")
    again = load_config(saved)
    assert again == load_config(str(path))


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("captions: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(path))
