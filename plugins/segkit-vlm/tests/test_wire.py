"""The chat completions wire format: the request segkit sends, the answers and errors it reads."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from segkit.testing import sample_image
from segkit_vlm.wire import WireError, answer_of, chat_request, error_code, png_data_url


def test_the_image_travels_as_a_lossless_png_data_url():
    image = sample_image()
    url = png_data_url(image)
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.format == "PNG" and decoded.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(decoded), image)  # RGB, not BGR; every pixel


def test_the_request_is_one_user_message_with_the_image_then_the_prompt():
    body = chat_request("m", "find cups", "data:image/png;base64,AAAA", 100, 0.0)
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "find cups"},
        ]}],
        "max_tokens": 100,
        "temperature": 0.0,
    }


def completion(content, finish="stop", **extra):
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}], **extra}


def test_the_answer_and_what_is_recorded_about_it():
    text, info = answer_of(completion("```json\n[]\n```", "length", model="Qwen/x",
                                      usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12, "odd": "x"}))
    assert text == "```json\n[]\n```"
    assert info == {"finish_reason": "length", "model": "Qwen/x", "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}


def test_content_given_as_parts_is_joined():
    assert answer_of(completion([{"type": "text", "text": "[1"}, {"type": "text", "text": "]"}, {"type": "other"}]))[0] == "[1]"


@pytest.mark.parametrize("response, message", [
    ([], "a JSON list, not a chat completion"),
    ({"choices": []}, "has no choices"),
    ({"error": {"message": "overloaded"}}, "has no choices (overloaded)"),
    (completion(None, "content_filter"), "no text in choices[0].message.content (finish_reason 'content_filter')"),
    ({"choices": [{"message": "hi"}]}, "no text"),
])
def test_answers_without_text_say_what_is_missing(response, message):
    with pytest.raises(WireError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        answer_of(response)


def test_error_codes_carry_no_message():
    assert error_code(b'{"error": {"message": "Incorrect API key provided: sk-123", "code": "invalid_api_key"}}') == "invalid_api_key"
    assert error_code(b'{"error": {"message": "no", "type": "invalid_request_error", "code": null}}') == "invalid_request_error"
    assert error_code(b'{"error": {"code": "sk-has a space"}}') == ""
    assert error_code(b"not json") == ""
