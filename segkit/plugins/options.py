"""Backend options: plugin default < config ``options.<key>`` < ``SEGKIT_<KEY>_<FIELD>`` < ``-O key.field=value``."""

from __future__ import annotations

import difflib
import os
from typing import Any, Iterable, Mapping, Sequence

from pydantic import BaseModel, ValidationError

from segkit.config import first_error
from segkit.errors import ConfigError
from segkit.plugins.segmenter import Segmenter
from segkit.text import preview, shorten

# Families of segkit's own plugins, with the package that reads each. configs/default.yaml has a section
# for each, so a section for one that is not installed here is expected and not an error.
FIRST_PARTY_FAMILIES = {
    "grabcut": "segkit-grabcut",
    "roboflow": "segkit-roboflow",
    "sam2": "segkit-sam2",
    "sam3": "segkit-sam3",
    "transformers": "segkit-transformers",
    "ultralytics": "segkit-ultralytics",
    "ultralytics_sam3": "segkit-ultralytics",
    "vlm": "segkit-vlm",
}


def option_families(classes: Iterable[type]) -> set[str]:
    """The options families that these backend (or detector) classes read."""
    return {cls.options_key for cls in classes if cls.options_key}


def check_families(
    config_options: Mapping[str, Any], overrides: Mapping[str, Any], installed: set[str]
) -> list[str]:
    """Refuse an options family that no backend reads (a typo such as ``grabcutt``); return warnings.

    A family of one of segkit's own plugins that is not installed is fine in the config (the default
    config has them all) and a warning with ``-O``.
    """
    warnings = []
    for source, families in (("config", config_options), ("-O", overrides)):
        for family in families:
            if family in installed:
                continue
            package = FIRST_PARTY_FAMILIES.get(family)
            if package is None:
                raise ConfigError(_unknown_family(family, source, overrides.get(family, {}), installed))
            if source == "-O":
                fields = ", ".join(f"{family}.{field}" for field in overrides[family])
                warnings.append(f"-O {fields}: the {package} plugin, which reads options.{family}, is not installed"
                                f" here, so the option is not used (pip install {package})")
    return warnings


def _unknown_family(family: str, source: str, fields: Mapping[str, Any], installed: set[str]) -> str:
    close = difflib.get_close_matches(family, sorted(installed | set(FIRST_PARTY_FAMILIES)), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    name = shorten(family, 60)
    where = f"-O {name}.{shorten(next(iter(fields), 'FIELD'), 60)}=…" if source == "-O" else f"options.{name} in the config"
    missing = sorted(set(FIRST_PARTY_FAMILIES) - installed)
    others = f"; of plugins not installed here: {', '.join(missing)}" if missing else ""
    return (f"unknown options family {name!r} ({where}); {hint}known families: {', '.join(sorted(installed)) or 'none'}"
            f"{others} (see `segkit backends`)")


def env_name(key: str, field: str) -> str:
    return f"SEGKIT_{key}_{field}".upper().replace("-", "_").replace(".", "_")


def parse_overrides(pairs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``-O sam2.device=cpu`` flags, grouped by options key."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        key, dot, field = name.strip().partition(".")
        if not sep or not dot or not key or not field:
            raise ConfigError(f"-O {preview(pair)} is not KEY.FIELD=VALUE (for example -O sam2.device=cpu)")
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
