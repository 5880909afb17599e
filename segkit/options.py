"""Backend options: plugin default < config ``options.<key>`` < ``SEGKIT_<KEY>_<FIELD>`` < ``-O key.field=value``."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

from pydantic import BaseModel, ValidationError

from segkit.config import first_error
from segkit.errors import ConfigError
from segkit.segmenter import Segmenter


def env_name(key: str, field: str) -> str:
    return f"SEGKIT_{key}_{field}".upper().replace("-", "_").replace(".", "_")


def parse_overrides(pairs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``-O sam2.device=cpu`` flags, grouped by options key."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        key, dot, field = name.strip().partition(".")
        if not sep or not dot or not key or not field:
            raise ConfigError(f"-O {pair!r} is not KEY.FIELD=VALUE (for example -O sam2.device=cpu)")
        out.setdefault(key, {})[field] = value
    return out


def resolve_options(
    cls: type[Segmenter],
    config_options: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Mapping[str, str]],
    environ: Mapping[str, str] | None = None,
) -> BaseModel:
    """Build a backend class's Options from every source, in precedence order."""
    key = cls.options_key
    if key is None:
        return cls.Options()
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = dict(config_options.get(key, {}))
    for field in cls.Options.model_fields:
        env = env_name(key, field)
        if env in environ:
            values[field] = environ[env]
    values.update(overrides.get(key, {}))
    try:
        return cls.Options.model_validate(values)
    except ValidationError as exc:
        fields = ", ".join(cls.Options.model_fields)
        raise ConfigError(
            f"option {key}.{first_error(exc)}; set it under options.{key} in the config, "
            f"as SEGKIT_{key.upper()}_<FIELD>, or with -O {key}.<field>=VALUE (fields: {fields})"
        ) from exc
