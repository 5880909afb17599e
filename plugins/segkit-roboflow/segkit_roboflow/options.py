"""Settings of the Roboflow backends (``options.roboflow`` in the config, ``SEGKIT_ROBOFLOW_<FIELD>``,
``-O roboflow.<field>=VALUE``) and where the API key comes from."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from segkit_http import check_api_url

HOSTED_API_URL = "https://serverless.roboflow.com"
LOCAL_API_URL = "http://localhost:9001"
KEY_ENV = "ROBOFLOW_API_KEY"
KEY_HELP = f"set {KEY_ENV} (get a key at https://app.roboflow.com/settings/api)"


class RoboflowOptions(BaseModel):
    """Options shared by every roboflow-* backend."""

    model_config = ConfigDict(extra="forbid")

    api_url: str = Field(
        HOSTED_API_URL,
        description=f"the hosted serverless API, a local inference server ({LOCAL_API_URL}) or a dedicated deployment's URL",
    )
    api_key: SecretStr | None = Field(None, description=f"API key; prefer the {KEY_ENV} environment variable")
    format: Literal["rle", "polygon"] = Field(
        "rle", description="mask encoding asked of the API: rle is exact; polygon loses holes (outer contours only)"
    )
    multimask: bool = Field(True, description="multimask_output: the server keeps the best of 3 candidates")
    concurrency: int = Field(4, ge=1, le=64, description="HTTP requests in flight at once (images for SAM2, prompts for SAM3)")
    timeout: float = Field(60.0, ge=0, description="seconds one request may take, connect and every read included; 0 waits forever")
    max_tries: int = Field(3, ge=1, le=10, description="tries per request on 429, 408, 5xx, timeouts, connection errors and bodies that are not JSON")
    backoff: float = Field(1.0, ge=0, le=60, description="delay before the first retry in seconds; doubles each retry, with jitter")
    max_backoff: float = Field(20.0, ge=0, le=600, description="longest delay between two tries in seconds")
    api_key_transport: Literal["auto", "query", "body", "header"] = Field(
        "auto",
        description="how the key travels: auto (inference-sdk's choice: query for Roboflow-hosted URLs, JSON body otherwise), "
        "query, body, or header (Authorization: Bearer, inference servers >= 1.5.0)",
    )

    # roboflow-sam3-concept only (/sam3/concept_segment)
    output_prob_thresh: float = Field(
        0.5, ge=0, le=1, description="roboflow-sam3-concept: the server keeps instances whose confidence is at least this"
    )
    nms_iou_threshold: float | None = Field(
        None, ge=0, le=1,
        description="roboflow-sam3-concept: the server's NMS across a request's concepts (mask IoU above it: the less confident"
        " instance is dropped); unset: no NMS",
    )
    concept_model_id: str = Field(
        "sam3/sam3_final", min_length=1, description="roboflow-sam3-concept: model_id of the SAM 3 model on the server"
    )

    @field_validator("nms_iou_threshold", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null", "off"):
            return None
        return value

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_api_url(value, f"{HOSTED_API_URL} or {LOCAL_API_URL}", KEY_ENV)

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value


def resolve_api_key(options: RoboflowOptions, environ=None) -> str | None:
    """The key from the options (flag, SEGKIT_ROBOFLOW_API_KEY, config), else from ROBOFLOW_API_KEY."""
    if options.api_key is not None:
        return options.api_key.get_secret_value()
    value = (os.environ if environ is None else environ).get(KEY_ENV, "").strip()
    return value or None

