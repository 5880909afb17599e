"""segkit-http: the HTTP client of segkit's remote plugins (segkit-roboflow, segkit-vlm).

    from segkit_http import HttpClient, HttpError

    client = HttpClient("vlm", "http://localhost:8000/v1", url_option="--api-url",
                        timeout_option="-O vlm.timeout=SECONDS", timeout=120, concurrency=4, secrets=[key])
    client.check_reachable()                      # in load(): ConfigError when nothing listens
    answer = client.post_json("/chat/completions", body, headers={"Authorization": f"Bearer {key}"})
    client.abort()                                # in close(): whatever is in flight stops now

Only the standard library speaks HTTP here (``http.client``), so the deadline, the retries and the
abort own every socket. See README.md for what is retried and what each error says.
"""

from segkit_http.client import HttpClient
from segkit_http.errors import HttpError, server_words, shorten
from segkit_http.urls import api_host, check_api_url

__version__ = "0.1.0"
__all__ = ["HttpClient", "HttpError", "api_host", "check_api_url", "server_words", "shorten"]
