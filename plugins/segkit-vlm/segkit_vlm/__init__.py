"""segkit-vlm: boxes from a vision-language model served behind an OpenAI-compatible chat completions
API (vLLM, SGLang, Ollama, DashScope), for `segkit detect`.

Importing this module is cheap: the HTTP client is made when the detector loads.
"""

from segkit import hookimpl

from segkit_vlm.detector import VlmDetector

__all__ = ["VlmDetector"]


@hookimpl
def register_detectors(register):
    register("vlm", VlmDetector)
