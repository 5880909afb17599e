"""Settings of the vlm detector (``options.vlm`` in the config, ``SEGKIT_VLM_<FIELD>``, ``-O vlm.<field>=VALUE``;
``--model``, ``--api-url`` and ``--api-key-env`` on `segkit detect`) and where the API key comes from."""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segkit_http import check_api_url

LOCAL_API_URL = "http://localhost:8000/v1"  # vLLM's and SGLang's default; Ollama: http://localhost:11434/v1
KEY_ENV = "OPENAI_API_KEY"  # the convention of OpenAI-compatible clients
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class VlmOptions(BaseModel):
    """Options of the vlm detector."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("", description="the model's name on the server (--model), e.g. Qwen/Qwen2.5-VL-7B-Instruct")
    api_url: str = Field(LOCAL_API_URL, description="base URL of the OpenAI-compatible API (--api-url); requests go to {api_url}/chat/completions")
    api_key_env: str = Field(KEY_ENV, description="environment variable that holds the API key (--api-key-env); unset or empty: no key is sent")
    max_tokens: int = Field(4096, ge=1, le=1_000_000, description="longest answer asked for; an answer cut off there keeps its complete boxes")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature (0: the model's most likely answer)")
    concurrency: int = Field(4, ge=1, le=64, description="images in flight at once")
    timeout: float = Field(120.0, ge=0, description="seconds one request may take, connect and every read included; 0 waits forever")
    max_tries: int = Field(3, ge=1, le=10, description="tries per image on 429, 408, 5xx, timeouts and connection errors")
    backoff: float = Field(1.0, ge=0, le=60, description="delay before the first retry in seconds; doubles each retry, with jitter")
    max_backoff: float = Field(20.0, ge=0, le=600, description="longest delay between two tries in seconds")

    @field_validator("model")
    @classmethod
    def _strip_model(cls, value: str) -> str:
        return value.strip()

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        url = value.strip().rstrip("/").removesuffix("/chat/completions")  # the endpoint given in full: its base
        return check_api_url(url, LOCAL_API_URL, KEY_ENV)

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str) -> str:
        value = value.strip()
        if not _ENV_NAME.match(value):
            raise ValueError("must be the name of an environment variable (letters, digits, '_'), not the key itself")
        return value


def resolve_api_key(options: VlmOptions, environ=None) -> str | None:
    """The key from the environment variable the options name; None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(options.api_key_env, "").strip()
    return value or None

