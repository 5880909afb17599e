"""The detection readers that ship with segkit, registered through the same hook as any plugin's readers."""

from __future__ import annotations

from segkit.inputs.readers.coco_results import CocoResultsReader
from segkit.inputs.readers.qwen_grounding import QwenGroundingReader
from segkit.inputs.readers.qwen_json import QwenJsonReader
from segkit.plugins.hookspecs import hookimpl


@hookimpl
def register_detection_readers(register):
    for reader in (QwenJsonReader, QwenGroundingReader, CocoResultsReader):
        register(reader)
