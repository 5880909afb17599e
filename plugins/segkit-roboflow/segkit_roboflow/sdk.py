"""inference-sdk's ``InferenceHTTPClient`` with segkit-http underneath.

The backends call the SDK's own methods (``sam2_segment_image``, ``sam3_visual_segment``,
``sam3_concept_segment``): the SDK builds the request (payload, where the key travels, headers) and
parses the answer. Its HTTP goes through ``requests``: inference-sdk 1.8 sends every request with the
session ``inference_sdk.http.utils.executors._get_thread_local_requests_session()`` returns, kept in the
thread-local ``_REQUESTS_SESSION_LOCAL``. For the length of each call ``SdkClient.call`` puts there a
session whose transport adapter is segkit-http's ``HttpClientAdapter`` (and puts back what was there), so
segkit-http's whole-request deadline, retries, concurrency cap, abort and redaction hold for the SDK's
requests too.

The SDK's own retry loop (``make_request``: 429/503/504 and ``requests.ConnectionError``, 3 tries 1 s
apart) never fires: the adapter returns only 2xx answers and raises ``segkit_http.HttpError``, which is
no ``requests`` exception, for everything else, so segkit-http's policy is the only one.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from segkit_http import HttpClient

SDK_REQUIREMENT = "inference-sdk>=1.8,<2"
SDK_HELP = f"install it with pip install '{SDK_REQUIREMENT}' (segkit-roboflow depends on it)"


def sdk_missing() -> str | None:
    """Why inference-sdk cannot be used here (cheap: nothing is imported), or None."""
    if importlib.util.find_spec("inference_sdk") is None:
        return f"inference-sdk is not installed; {SDK_HELP}"
    return None


def sdk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inference-sdk")
    except PackageNotFoundError:
        return "unknown"


class SdkClient:
    """One ``InferenceHTTPClient`` for one backend, its requests sent by ``http`` (thread-safe)."""

    def __init__(self, http: HttpClient, api_url: str, api_key: str, transport: str):
        from inference_sdk import InferenceConfiguration, InferenceHTTPClient
        from inference_sdk.http.utils import executors
        from segkit_http.requests_adapter import session_for

        if not hasattr(executors, "_REQUESTS_SESSION_LOCAL") or not hasattr(executors, "_get_thread_local_requests_session"):
            from segkit import ConfigError

            raise ConfigError(f"inference-sdk {sdk_version()} has no per-thread requests session to send through;"
                              f" segkit-roboflow needs {SDK_REQUIREMENT}")
        self._sessions = executors._REQUESTS_SESSION_LOCAL
        self._session_for = lambda: session_for(http)
        self._mine = threading.local()
        # "auto" is the SDK's own choice: the query string for Roboflow-hosted URLs, the JSON body elsewhere.
        sdk_transport = "header" if transport == "header" else "legacy"
        client = InferenceHTTPClient(api_url=api_url, api_key=api_key)
        client.configure(InferenceConfiguration(api_key_transport=sdk_transport))
        if transport == "query":
            client.select_api_v0()
        elif transport == "body":
            client.select_api_v1()
        self.client = client

    def call(self, method: str, **arguments: Any) -> Any:
        """``self.client.<method>(**arguments)`` with this backend's session in the SDK's hook."""
        with self._installed():
            return getattr(self.client, method)(**arguments)

    @contextmanager
    def _installed(self) -> Iterator[None]:
        session = getattr(self._mine, "session", None)
        if session is None:
            session = self._mine.session = self._session_for()
        hook = self._sessions
        previous = getattr(hook, "session", None)
        hook.session = session
        try:
            yield
        finally:
            if previous is None:
                hook.__dict__.pop("session", None)
            else:
                hook.session = previous
