"""Checks across fields that field types cannot express: sizes against the models that consume them.

They run once when a config is built (`build_config`), so a combination that would crash at the
first training step (a 96 px crop for a patch-14 ViT) fails at load with the field named.
"""

import json
from functools import lru_cache
from typing import Any

from synclr_ray.config.captions import CaptionsConfig
from synclr_ray.config.train import TrainConfig


@lru_cache(maxsize=32)
def _patch_size(name: str, kwargs_json: str) -> int:
    import timm
    import torch

    # The meta device builds the module tree without allocating weights (ViT-L in well under a second).
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, num_classes=0, **json.loads(kwargs_json))
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is None:
        raise TypeError(f"{name!r} has no patch embedding")
    rows, cols = patch if isinstance(patch, tuple) else (patch, patch)
    if rows != cols:
        raise TypeError(f"{name!r} has non-square patches {patch}")
    return int(rows)


def backbone_patch_size(name: str, kwargs: dict[str, Any]) -> int:
    """The patch size timm gives model ``name`` with ``kwargs`` (its own default unless ``kwargs`` set one)."""
    return _patch_size(name, json.dumps(kwargs, sort_keys=True))


def _multiple_error(field: str, value: int, patch: int, owner: str) -> str:
    nearest = max(patch, patch * round(value / patch))
    return (
        f"config field '{field}': must be a multiple of the patch size {patch} of {owner}, e.g. {nearest} (got {value})"
    )


def _train_errors(train: TrainConfig) -> list[str]:
    """Crop sizes that the backbone cannot cut into whole patches, or a backbone timm cannot build."""
    backbone = train.backbone
    try:
        patch = backbone_patch_size(backbone.name, backbone.kwargs)
    except (RuntimeError, TypeError, ValueError) as err:
        return [f"config field 'train.backbone.name': timm cannot build a ViT {backbone.name!r} with kwargs "
                f"{backbone.kwargs}: {err}"]  # fmt: skip
    owner = f"train.backbone {backbone.name!r}"
    errors = []
    if train.crops.global_size % patch:
        errors.append(_multiple_error("train.crops.global_size", train.crops.global_size, patch, owner))
    if train.crops.num_local and train.crops.local_size % patch:
        errors.append(_multiple_error("train.crops.local_size", train.crops.local_size, patch, owner))
    return errors


def _captions_errors(captions: CaptionsConfig) -> list[str]:
    """Token budgets the vLLM engine would reject: the completion alone must leave room for the prompt."""
    if captions.engine == "vllm" and captions.max_new_tokens >= captions.vllm.max_model_len:
        return [
            f"config field 'captions.max_new_tokens': must be below captions.vllm.max_model_len "
            f"({captions.vllm.max_model_len}), which also holds the prompt (got {captions.max_new_tokens})"
        ]
    return []


def shape_errors(captions: CaptionsConfig, train: TrainConfig) -> list[str]:
    """One message per bad field, each naming it as ``config field 'section.field'``."""
    return [*_captions_errors(captions), *_train_errors(train)]
