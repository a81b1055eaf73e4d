"""One typed, validated config system: YAML presets plus dotted overrides."""

from synclr_ray.config.root import Config, ConfigError, build_config, load_config, preset_names

__all__ = ["Config", "ConfigError", "build_config", "load_config", "preset_names"]
