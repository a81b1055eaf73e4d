"""Which config fields differ between two configs, and which of them may change on a run root that has outputs.

A field is safe to change when it, or a section above it, is declared with ``SAFE_TO_CHANGE``
(``Field(..., json_schema_extra=SAFE_TO_CHANGE)``): the one place that says what a committed
stage's outputs do not depend on (how long to train, logging, placement, serving, evaluation).
"""

from typing import Any

from pydantic import BaseModel

SAFE_TO_CHANGE: dict[str, Any] = {"safe_to_change": True}


def changed_fields(before: BaseModel, after: BaseModel) -> list[str]:
    """Dotted names of the leaf fields whose values differ (``train.optim.lr``), in declaration order."""
    return _diff(before.model_dump(mode="json"), after.model_dump(mode="json"), "")


def _diff(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(dict.fromkeys([*a, *b]))
        return [name for key in keys for name in _diff(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if a != b else []


def is_safe_to_change(model: type[BaseModel], field: str) -> bool:
    """True if ``field`` (dotted) or a section above it is marked `SAFE_TO_CHANGE` in the config models."""
    current: Any = model
    for part in field.split("."):
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return False
        info = current.model_fields[part]
        if (info.json_schema_extra or {}).get("safe_to_change"):
            return True
        current = info.annotation
    return False
