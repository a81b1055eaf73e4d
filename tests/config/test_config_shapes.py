import pytest

from synclr_ray.config import ConfigError, load_config
from synclr_ray.config.shapes import backbone_patch_size


def test_patch_size_comes_from_timm_defaults_or_kwargs():
    assert backbone_patch_size("vit_large_patch14_224", {}) == 14
    assert backbone_patch_size("vit_base_patch16_224", {}) == 16
    assert backbone_patch_size("vit_tiny_patch16_224", {"patch_size": 8, "depth": 1}) == 8


def test_paper_presets_cut_every_crop_into_whole_patches():
    for preset in ("paper-vitb16", "paper-vitl14"):
        crops = load_config(preset).train.crops
        patch = 16 if preset == "paper-vitb16" else 14
        assert crops.global_size % patch == 0 and crops.local_size % patch == 0
    assert load_config("paper-vitl14").train.crops.local_size == 98


def test_a_96px_local_crop_for_patch_14_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"'train\.crops\.local_size'.*patch size 14.*e\.g\. 98 \(got 96\)"):
        load_config("paper-vitl14", ["train.crops.local_size=96"])


def test_patch_size_set_in_kwargs_checks_the_global_crop():
    with pytest.raises(ConfigError, match=r"'train\.crops\.global_size'.*patch size 12"):
        load_config("tiny", ["train.backbone.kwargs.patch_size=12"])
    # Without local crops their size does not matter.
    assert load_config("tiny", ["train.crops.num_local=0", "train.crops.local_size=30"]).train.crops.num_local == 0


def test_a_backbone_timm_cannot_build_names_the_field():
    with pytest.raises(ConfigError, match=r"'train\.backbone\.name'.*no_such_vit"):
        load_config("tiny", ["train.backbone.name=no_such_vit"])
    with pytest.raises(ConfigError, match=r"'train\.backbone\.name'.*resnet18"):
        load_config("tiny", ["train.backbone.name=resnet18", "train.backbone.kwargs={}"])


def test_vllm_completion_must_leave_room_for_the_prompt():
    with pytest.raises(ConfigError, match=r"'captions\.max_new_tokens'.*max_model_len \(256\)"):
        load_config("tiny", ["captions.engine=vllm", "captions.vllm.max_model_len=256", "captions.max_new_tokens=256"])
    assert load_config("tiny", ["captions.vllm.max_model_len=256", "captions.max_new_tokens=256"])
