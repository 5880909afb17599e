"""segkit: detector boxes in, instance masks out, from any segmenter, compared.

The public plugin API. A segmenter plugin subclasses ``Segmenter`` and registers it::

    import segkit

    class MySegmenter(segkit.Segmenter):
        def segment(self, image, boxes):
            ...
            return segkit.Segmentation(masks=masks, scores=scores)

    @segkit.hookimpl
    def register_segmenters(register):
        register("my-backend", MySegmenter)

and `segkit run` is a library call: ``segkit.run_job(segkit.RunJob(backends=[...], images=..., ...))``, as is
`segkit detect`: ``segkit.detect_job(segkit.DetectJob(images=..., out=..., prompt=..., flags={"model": ...}))``.
"""

from segkit import moved_modules as _moved_modules
from segkit.plugin_api import *  # noqa: F401,F403  (the plugin API: see segkit/plugin_api.py)
from segkit.plugin_api import __all__ as _plugin_api

__version__ = "0.2.0"
_moved_modules.install()  # segkit 0.1's module paths answer with where their names are now

_LAZY = {**dict.fromkeys(("RunJob", "RunResult", "run_job"), "segkit.pipeline.job"),
         "RunEvents": "segkit.pipeline.events",
         **dict.fromkeys(("CompareJob", "compare_job"), "segkit.pipeline.compare"),
         **dict.fromkeys(("EvalJob", "eval_job"), "segkit.pipeline.evaluate"),
         **dict.fromkeys(("DetectJob", "detect_job"), "segkit.pipeline.detect"),
         **dict.fromkeys(("ExportJob", "ExportResult", "export_job"), "segkit.export.job")}


def __getattr__(name: str):
    """The jobs (run, compare, eval, detect, export), imported on first use (they pull in the whole output stage)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'segkit' has no attribute {name!r}")


__all__ = [*_plugin_api, *_LAZY]
