"""The plugin host: built-in plugins and entry-point plugins (group ``segkit``) through the same hooks:
segmenter backends, detection readers, and detectors that `segkit detect` runs.

A plugin that fails to import or to register is kept as a warning with its error; every other plugin
keeps working. ``SEGKIT_BLOCK_PLUGINS=name1,name2`` skips entry-point plugins by name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from segkit.errors import UnknownBackendError, UnknownDetectorError, UnknownReaderError
from segkit.inputs.readers.base import DetectionReader
from segkit.plugins import hookspecs
from segkit.plugins.detector import Detector
from segkit.plugins.backend import Backend
from segkit.plugins.concept_segmenter import ConceptSegmenter
from segkit.plugins.segmenter import Segmenter

DEFAULT_PLUGINS = (
    "segkit.plugins.builtin_readers",
    "segkit.plugins.mock",
)
ENTRY_POINT_GROUP = "segkit"
BLOCK_ENV = "SEGKIT_BLOCK_PLUGINS"
BACKEND_NAME = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")


@dataclass(frozen=True)
class PluginProblem:
    plugin: str
    message: str


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: how to make it, and which plugin it comes from."""

    name: str
    cls: type[Backend]
    plugin: str
    params: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def kind(self) -> str:
        """"box" (a Segmenter) or "concept" (a ConceptSegmenter)."""
        return self.cls.kind

    def create(self, options: Any = None) -> Backend:
        return self.cls(self.name, options, **self.params)


@dataclass(frozen=True)
class DetectorEntry:
    """A registered detector: how to make it, and which plugin it comes from."""

    name: str
    cls: type[Detector]
    plugin: str
    params: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    description: str = ""

    def create(self, options: Any = None) -> Detector:
        return self.cls(self.name, options, **self.params)


@dataclass(frozen=True)
class ReaderEntry:
    name: str
    cls: type[DetectionReader]
    plugin: str

    @property
    def description(self) -> str:
        return self.cls.description


class PluginHost:
    """Owns the pluggy manager and answers which backends and readers exist."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.problems: list[PluginProblem] = []
        self.distributions: dict[str, str] = {}  # plugin name -> "dist version"
        for module_name in DEFAULT_PLUGINS:
            self.pm.register(importlib.import_module(module_name), name=module_name)
        if load_entry_points:
            self._load_entry_points()
        self._check_pending()

    def _load_entry_points(self) -> None:
        blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in blocked or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must not break the others
                self._report(ep.name, f"failed to load: {type(exc).__name__}: {exc}")
                continue
            if ep.dist is not None:
                self.distributions[ep.name] = f"{ep.dist.name} {ep.dist.version}"

    def _check_pending(self) -> None:
        """Report implementations of hooks that do not exist (usually a misspelt name)."""
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("register_")))
        for name, caller in vars(self.pm.hook).items():
            if getattr(caller, "spec", True) is None:
                for impl in caller.get_hookimpls():
                    self._report(impl.plugin_name, f"implements unknown hook {name!r} (the hooks are: {known})")

    def register(self, plugin: object, name: str) -> None:
        """Add a plugin object at run time (tests, embedding applications)."""
        self.pm.register(plugin, name=name)

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)

    def _call_each(self, hook_name: str, make_register: Callable[[str], Callable[..., None]]) -> None:
        """Call every implementation of a hook on its own, so one failure stays with its plugin."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(register=make_register(impl.plugin_name))
            except Exception as exc:
                self._report(impl.plugin_name, f"{hook_name} failed: {type(exc).__name__}: {exc}")

    def _report(self, plugin: str, message: str) -> None:
        problem = PluginProblem(plugin, message)
        if problem not in self.problems:  # hooks are called again on every lookup
            self.problems.append(problem)

    def backends(self) -> dict[str, BackendEntry]:
        """Every backend by canonical name, in registration order: segmenters (boxes in), then concept
        segmenters (phrases in); one namespace, so that a run may name both."""
        found: dict[str, BackendEntry] = {}

        def registrar(base: type):
            def make_register(plugin: str):
                def register(name: str, cls: type, *, aliases=(), description: str = "", **params):
                    kind = "concept backend" if base is ConceptSegmenter else "backend"
                    problem = _backend_problem(name, cls, aliases, found, base=base, kind=kind)
                    if problem:
                        self._report(plugin, problem)
                        return
                    doc = description or _first_line(cls.__doc__)
                    found[name] = BackendEntry(name, cls, plugin, dict(params), tuple(aliases), doc)

                return register

            return make_register

        self._call_each("register_segmenters", registrar(Segmenter))
        self._call_each("register_concept_segmenters", registrar(ConceptSegmenter))
        return found

    def backend(self, name: str) -> BackendEntry:
        entries = self.backends()
        if name in entries:
            return entries[name]
        for entry in entries.values():
            if name in entry.aliases:
                return entry
        raise UnknownBackendError(name, sorted(entries))

    def detectors(self) -> dict[str, DetectorEntry]:
        """Every detector by canonical name, in registration order."""
        found: dict[str, DetectorEntry] = {}

        def make_register(plugin: str):
            def register(name: str, cls: type[Detector], *, aliases=(), description: str = "", **params):
                problem = _backend_problem(name, cls, aliases, found, base=Detector, kind="detector")
                if problem:
                    self._report(plugin, problem)
                    return
                doc = description or _first_line(cls.__doc__)
                found[name] = DetectorEntry(name, cls, plugin, dict(params), tuple(aliases), doc)

            return register

        self._call_each("register_detectors", make_register)
        return found

    def detector(self, name: str) -> DetectorEntry:
        entries = self.detectors()
        if name in entries:
            return entries[name]
        for entry in entries.values():
            if name in entry.aliases:
                return entry
        raise UnknownDetectorError(name, sorted(entries))

    def option_families(self) -> set[str]:
        """The options families (``options.<key>``, ``-O key.field``) the installed backends and detectors read."""
        from segkit.plugins.options import option_families

        return option_families([e.cls for e in self.backends().values()] + [e.cls for e in self.detectors().values()])  # type: ignore[misc]

    def readers(self) -> dict[str, ReaderEntry]:
        found: dict[str, ReaderEntry] = {}

        def make_register(plugin: str):
            def register(cls: type[DetectionReader]):
                if not (isinstance(cls, type) and issubclass(cls, DetectionReader)):
                    raise TypeError(f"{cls!r} is not a segkit.DetectionReader subclass")
                if not isinstance(getattr(cls, "name", None), str):
                    raise TypeError(f"{cls.__name__} has no 'name'")
                if cls.name not in found:
                    found[cls.name] = ReaderEntry(cls.name, cls, plugin)

            return register

        self._call_each("register_detection_readers", make_register)
        return found

    def reader(self, name: str) -> ReaderEntry:
        entries = self.readers()
        if name not in entries:
            raise UnknownReaderError(name, sorted(entries))
        return entries[name]

    def plugins(self) -> list[dict[str, Any]]:
        """Loaded plugins with the hooks each implements (nothing heavy is loaded to answer)."""
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
            rows.append({"name": name, "hooks": hooks, "distribution": self.distributions.get(name, "segkit (built in)")})
        return rows


def _first_line(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def _backend_problem(name: str, cls: Any, aliases: tuple, found: dict[str, Any],
                     base: type = Segmenter, kind: str = "backend") -> str | None:
    """Why a registration cannot be kept (a bad name, not a subclass of ``base``, a name taken), or None."""
    if not isinstance(name, str) or not BACKEND_NAME.match(name):
        return f"{kind} name {name!r} is invalid: use lower-case letters, digits, '.', '+' and '-'"
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return f"{kind} {name!r}: {cls!r} is not a segkit.{base.__name__} subclass"
    taken = {n for e in found.values() for n in (e.name, *e.aliases)}
    for n in (name, *aliases):
        if n in taken:
            owner = next(e for e in found.values() if n in (e.name, *e.aliases))
            return f"{kind} name {n!r} is already registered by {owner.plugin}; keeping that one"
    return None


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, created on first use."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost()
        return _host
