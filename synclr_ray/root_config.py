"""A run root remembers its config: ``ROOT/config.yaml``, written by the first command on the root.

Later commands start from it (unless ``--config`` names another source), and a config that
changes a field a committed stage already used is refused, naming every differing field, unless
the field is marked safe to change (`synclr_ray.config.changes`) or explicitly allowed.
"""

from collections.abc import Sequence

import yaml

from synclr_ray import storage
from synclr_ray.config import Config, ConfigError, build_config, load_config
from synclr_ray.config.changes import changed_fields, is_safe_to_change
from synclr_ray.runroot import CONFIG_FILE, RunRoot

ROOT_CONFIG = "config.yaml"
DEFAULT_SOURCE = "tiny"

# The config sections each stage's outputs depend on (besides the fields marked safe to change).
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "captions": ("name", "seed", "captions"),
    "images": ("name", "seed", "images"),
    "train": ("name", "seed", "train", "pipeline"),
    # `synclr pipeline` trains on captions and images it generates on the fly (no ROOT/captions, ROOT/images).
    "pipeline": ("name", "seed", "captions", "images", "train", "pipeline"),
}


def committed_stages(root: str) -> list[str]:
    """The stages with outputs under ``root``: each stage's folder holds files; a streaming run is one whose
    ROOT/train exists beside the config `synclr pipeline` writes at the root when it starts."""
    run = RunRoot(root)
    folders = {"captions": run.captions, "images": run.images, "train": run.train}
    stages = [stage for stage, folder in folders.items() if storage.list_files(folder)]
    if "train" in stages and storage.exists(storage.join(root, CONFIG_FILE)):
        stages.append("pipeline")
    return stages


def root_config(
    root: str, source: str | None, overrides: Sequence[str] = (), allow_change: Sequence[str] = ()
) -> Config:
    """The config of a command on ``root``: ``source`` (a preset or YAML) or else the root's remembered config
    (else the tiny preset), with ``overrides``; checked against the remembered one, then remembered."""
    uri = storage.join(root, ROOT_CONFIG)
    saved = _read(uri) if storage.exists(uri) else None
    cfg = load_config(saved if source is None and saved is not None else source or DEFAULT_SOURCE, overrides)
    if saved is not None:
        _check_changes(root, saved, cfg, allow_change)
    if saved != cfg:
        storage.write_text(uri, cfg.to_yaml())
    return cfg


def _read(uri: str) -> Config:
    try:
        return build_config(yaml.safe_load(storage.read_text(uri)) or {})
    except ConfigError as exc:
        raise ConfigError(f"{uri}: {exc} (fix or remove the run root's remembered config)") from None


def _check_changes(root: str, saved: Config, cfg: Config, allow_change: Sequence[str]) -> None:
    stages = committed_stages(root)
    used = {section for stage in stages for section in STAGE_SECTIONS[stage]}
    allowed = [name.strip() for name in allow_change]
    refused = [
        field
        for field in changed_fields(saved, cfg)
        if field.split(".")[0] in used
        and not is_safe_to_change(Config, field)
        and not any(field == name or field.startswith(f"{name}.") for name in allowed)
    ]
    if refused:
        before, after = saved.model_dump(mode="json"), cfg.model_dump(mode="json")
        changes = "; ".join(f"{f}: {_get(before, f)!r} -> {_get(after, f)!r}" for f in refused)
        raise ConfigError(
            f"run root {root} has committed {', '.join(stages)} made with another config ({storage.join(root, ROOT_CONFIG)}); "
            f"these fields differ: {changes}. Keep the root's config (drop --config/--set), pass --allow-change FIELD "
            "for each field you mean to change, or use another --root"
        )


def _get(tree: dict, field: str) -> object:
    for part in field.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree
