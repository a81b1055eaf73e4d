"""The whole experiment's config, and loading it from a preset or file plus dotted overrides."""

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from synclr_ray.config.base import Section
from synclr_ray.config.captions import CaptionsConfig
from synclr_ray.config.changes import SAFE_TO_CHANGE
from synclr_ray.config.embed import EmbedConfig
from synclr_ray.config.eval import EvalConfig
from synclr_ray.config.finetune import FinetuneConfig
from synclr_ray.config.images import ImagesConfig
from synclr_ray.config.lease import LeaseConfig
from synclr_ray.config.pipeline import PipelineConfig
from synclr_ray.config.ray import RayConfig
from synclr_ray.config.segment import SegmentConfig
from synclr_ray.config.serve import ServeConfig
from synclr_ray.config.shapes import shape_errors
from synclr_ray.config.tracking import TrackingConfig
from synclr_ray.config.train import TrainConfig
from synclr_ray.config.transfer import TransferConfig


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field and the problem."""


class Config(Section):
    """One experiment: every stage's settings, saved next to every output.

    Sections and fields marked `SAFE_TO_CHANGE` may differ from a run root's remembered config
    after its stages have committed outputs (`synclr_ray.root_config`); any other may not.
    """

    name: str = "synclr"
    seed: int = Field(0, ge=0)
    ray: RayConfig = Field(RayConfig(), json_schema_extra=SAFE_TO_CHANGE)
    captions: CaptionsConfig = CaptionsConfig()
    images: ImagesConfig = ImagesConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = Field(EvalConfig(), json_schema_extra=SAFE_TO_CHANGE)
    transfer: TransferConfig = Field(TransferConfig(), json_schema_extra=SAFE_TO_CHANGE)
    finetune: FinetuneConfig = Field(FinetuneConfig(), json_schema_extra=SAFE_TO_CHANGE)
    segment: SegmentConfig = Field(SegmentConfig(), json_schema_extra=SAFE_TO_CHANGE)
    serve: ServeConfig = Field(ServeConfig(), json_schema_extra=SAFE_TO_CHANGE)
    embed: EmbedConfig = Field(EmbedConfig(), json_schema_extra=SAFE_TO_CHANGE)
    pipeline: PipelineConfig = PipelineConfig()
    lease: LeaseConfig = Field(LeaseConfig(), json_schema_extra=SAFE_TO_CHANGE)
    tracking: TrackingConfig = Field(TrackingConfig(), json_schema_extra=SAFE_TO_CHANGE)

    def to_yaml(self) -> str:
        """The resolved config as YAML (loadable again with `load_config`)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    folder = resources.files("synclr_ray.config") / "presets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_source(source: str) -> dict[str, Any]:
    if source in preset_names():
        text = (resources.files("synclr_ray.config") / "presets" / f"{source}.yaml").read_text()
    elif "://" in source or Path(source).is_file():
        from synclr_ray import storage

        text = storage.read_text(source)
    else:
        raise ConfigError(f"config {source!r} is neither a preset ({', '.join(preset_names())}) nor a YAML file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {source!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {source!r} must be a YAML mapping, got {type(data).__name__}")
    return data


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r} must look like section.field=value")
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: config field {part!r} is not a section")
        node = child
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {override!r}: value is not valid YAML ({exc})") from exc


def build_config(data: dict[str, Any]) -> Config:
    """Validate a plain mapping into a `Config`, raising `ConfigError` naming the first bad field."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"]) or "<root>"
        raise ConfigError(f"config field '{field}': {err['msg']} (got {err.get('input')!r})") from None
    errors = shape_errors(cfg.captions, cfg.train)
    if errors:
        raise ConfigError(errors[0])
    return cfg


def load_config(source: str | Config, overrides: Sequence[str] = ()) -> Config:
    """Load a preset name or YAML file (local or object store), or start from a `Config`, and apply
    ``section.field=value`` overrides."""
    data = source.model_dump(mode="json") if isinstance(source, Config) else _read_source(source)
    for override in overrides:
        _apply_override(data, override)
    return build_config(data)
