"""Old module paths, for one release: importing a name from one says where the name is now.

segkit 0.2 moved its flat modules into folders (inputs/, plugins/, outputs/, pipeline/, cli/). A plugin
written against 0.1 that imports ``from segkit.boxes import xyxy_to_cxcywh`` gets an ImportError that
names the public replacement (``segkit.xyxy_to_cxcywh``), not a bare "No module named". Plugins import
only what ``segkit`` exports (segkit/plugin_api.py, docs/plugin-api.md); these shims go in the next release.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

# old module -> where its contents went (internal modules: plugins must not import them)
MOVED = {
    "segkit.artifacts": "segkit.outputs (layout, files, lock, reading)",
    "segkit.backends": "segkit.plugins",
    "segkit.backends.mock": "segkit.plugins.mock",
    "segkit.boxes": "segkit.inputs.box_spaces",
    "segkit.coco_export": "segkit.outputs.coco",
    "segkit.compare": "segkit.pipeline.compare",
    "segkit.detect": "segkit.pipeline.detect",
    "segkit.detection_reader": "segkit.inputs.readers.base",
    "segkit.detection_source": "segkit.inputs.detection_files",
    "segkit.detections": "segkit.inputs.detections",
    "segkit.detector": "segkit.plugins.detector",
    "segkit.engines": "segkit.pipeline",
    "segkit.engines.ray_engine": "segkit.pipeline.ray_engine",
    "segkit.hookspecs": "segkit.plugins.hookspecs",
    "segkit.image_outputs": "segkit.outputs.image_writer",
    "segkit.image_stage": "segkit.pipeline",
    "segkit.images": "segkit.inputs.images",
    "segkit.job": "segkit.pipeline.job",
    "segkit.mask_png": "segkit.outputs.mask_png",
    "segkit.mask_set": "segkit.outputs.mask_set",
    "segkit.masks": "segkit.outputs.mask_metrics",
    "segkit.model_answer": "segkit.inputs.model_answer",
    "segkit.options": "segkit.plugins.options",
    "segkit.panel": "segkit.outputs.panels",
    "segkit.quality": "segkit.outputs.quality",
    "segkit.readers": "segkit.inputs.readers",
    "segkit.record": "segkit.outputs.records",
    "segkit.report": "segkit.outputs.agreement",
    "segkit.runner": "segkit.pipeline.local_engine",
    "segkit.segmenter": "segkit.plugins.segmenter",
    "segkit.summary": "segkit.cli.run_tables",
}
# names that are public under another name, or live in segkit.testing
RENAMED = {"get_host": "segkit.get_backend(NAME) for one backend (the plugin host itself is internal)"}
# what segkit/plugins.py held before it became the segkit.plugins folder
OLD_PLUGINS_NAMES = {"get_host", "PluginHost", "PluginProblem", "BackendEntry", "DetectorEntry", "ReaderEntry",
                     "DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "BLOCK_ENV"}


def moved_name_error(module: str, name: str, now: str) -> ImportError:
    """The ImportError for ``from <module> import <name>``, naming where to get it now."""
    import segkit

    if name in getattr(segkit, "__all__", ()):
        fix = f"import it from segkit instead (`from segkit import {name}`)"
    elif name in RENAMED:
        fix = f"use {RENAMED[name]}"
    else:
        fix = (f"it is internal now ({now}); plugins use only what `segkit` and `segkit.testing` export,"
               " listed in docs/plugin-api.md")
    return ImportError(f"{module}.{name} is no longer importable (segkit 0.2 reorganised its modules): {fix}",
                       name=module)


class _MovedModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__") or f"{self.__name__}.{name}" in MOVED:
            raise AttributeError(name)  # a dunder, or an old submodule: the import system goes on
        raise moved_name_error(self.__name__, name, MOVED[self.__name__])


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        module = _MovedModule(spec.name)
        module.__path__ = []  # a package, so that segkit.backends.mock is found below it
        return module

    def exec_module(self, module) -> None:
        module.__doc__ = f"Moved: {MOVED[module.__name__]} (see segkit.moved_modules)."


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: answers only for old paths that no longer exist."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)
        return None


def install() -> None:
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
