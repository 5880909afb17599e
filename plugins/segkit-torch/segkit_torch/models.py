"""A family's table of models, as its backends find them. No torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True)
class ModelFile:
    """One model of a family: the backend name users type, which model it is (``key``: what the family's
    per-model option ends in, ``checkpoint_tiny``), its official file (or folder) name, and the address that
    name is published under. A family subclasses it (``kw_only=True``) for what else it needs."""

    key: str
    backend: str
    file: str
    published: str

    @property
    def url(self) -> str:
        return self.published + self.file


M = TypeVar("M", bound=ModelFile)


def by_key(*models: M) -> dict[str, M]:
    """A family's models by key, in order."""
    return {model.key: model for model in models}
