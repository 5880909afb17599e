"""Reading chat models' answers forgivingly: fences, prose, trailing commas, cut-off lists, and bounded
work on hostile text."""

import json
import time

import pytest

from segkit.inputs.model_answer import MAX_DEPTH, AnswerError, parse_model_answer

BOX = '{"bbox_2d": [12, 34, 56, 78], "label": "りんご"}'
BOXES = [{"bbox_2d": [12, 34, 56, 78], "label": "りんご"}, {"bbox_2d": [1, 2, 3, 4], "label": "cup"}]
JSON = json.dumps(BOXES, ensure_ascii=False)


@pytest.mark.parametrize("text, repairs", [
    (JSON, ()),
    (f"```json\n{JSON}\n```", ()),
    (f"```JSON\n{JSON}\n```", ()),
    (f"```\n{JSON}\n```", ()),
    (f"Sure! Here are the boxes:\n```json\n{JSON}\n```\nLet me know if you need more.", ("text around the JSON",)),
    (f"```json\n{JSON}", ("a missing closing fence",)),
    (f"The objects are {JSON}. That is all.", ("text around the JSON",)),
    (f"Boxes [in pixels] follow: {JSON}", ("text around the JSON",)),
    (JSON.replace("}]", "},]").replace('"cup"', '"cup",'), ("trailing commas",)),
    (f"```json\n{JSON[:-1]},\n]", ("a missing closing fence", "trailing commas")),
])
def test_complete_answers_in_every_wrapping(text, repairs):
    answer = parse_model_answer(text)
    assert answer.data == BOXES and not answer.cut_off and answer.kept == 2
    assert answer.repairs == repairs


def test_commas_and_brackets_inside_strings_are_data():
    text = '[{"label": "a, ]", "bbox_2d": [1, 2, 3, 4]}, {"label": "b,}", "note": "say \\"hi\\", ]"}]'
    assert parse_model_answer(text).data == [{"label": "a, ]", "bbox_2d": [1, 2, 3, 4]}, {"label": "b,}", "note": 'say "hi", ]'}]


def test_an_object_is_read_too():
    assert parse_model_answer('```json\n{"objects": [' + BOX + "]}\n```").data == {"objects": [BOXES[0]]}


@pytest.mark.parametrize("cut", [
    ',\n  {"bbox_2d": [1, 2, 3',  # inside a number list
    ',\n  {"bbox_2d": [1, 2, 3, 4], "label": "cu',  # inside a string
    ',\n  {"bbox_2d": [1, 2, 3, 4], "label": "cup"',  # before the closing brace
    ",\n  {",
    ",",
    "",
])
def test_a_cut_off_list_keeps_every_complete_object(cut):
    text = f"```json\n[\n  {BOX}{cut}"
    answer = parse_model_answer(text)
    assert answer.cut_off and answer.data == [BOXES[0]] and answer.kept == 1
    assert answer.problem.startswith("the answer was cut off (it ends inside the JSON, line ")
    assert "a missing closing fence" in answer.repairs


def test_the_cut_position_is_named_in_the_answer():
    answer = parse_model_answer(f'```json\n[\n  {BOX},\n  {{"bbox_2d": [1, 2')
    assert answer.problem == "the answer was cut off (it ends inside the JSON, line 4 column 3)"


def test_cut_before_the_first_object_ends_keeps_none():
    answer = parse_model_answer('```json\n[\n  {"bbox_2d": [1, 2, 3')
    assert answer.cut_off and answer.data == [] and answer.kept == 0


def test_cut_right_after_the_bracket():
    answer = parse_model_answer("```json\n[")
    assert answer.cut_off and answer.data == []


def test_a_list_broken_part_way_keeps_what_came_before_and_says_where():
    answer = parse_model_answer(f'[{BOX}, {{"bbox_2d": [1, 2, 3, 4] "label": "x"}}, {BOX}]')
    assert answer.cut_off and answer.data == [BOXES[0]]
    assert answer.problem.startswith("the answer's JSON breaks at line 1 column ")
    assert "Expecting ',' delimiter" in answer.problem


def test_nested_lists_inside_a_cut_object_are_not_taken_for_the_answer():
    # The first complete value in the text is [1, 2, 3, 4]: it belongs to the cut object, not the answer.
    answer = parse_model_answer('[{"bbox_2d": [1, 2, 3, 4], "label": "cup", "parts": [')
    assert answer.cut_off and answer.data == []


@pytest.mark.parametrize("text, message", [
    ("I could not find any objects.", "the answer holds no JSON list or object"),
    ("", "the answer holds no JSON list or object"),
    ("{not json}", "the answer holds no JSON list or object"),
    ('{"a": 1 "b": 2}', "not valid JSON (line 1, column 9: Expecting ',' delimiter)"),
    ("```json\n{\"a\": \n```", "not valid JSON (line 3, column 1: Expecting value)"),
])
def test_answers_without_json_say_why(text, message):
    with pytest.raises(AnswerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_model_answer(text)


def test_deep_nesting_is_refused_before_parsing():
    parse_model_answer("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(AnswerError, match=f"nested {MAX_DEPTH + 1} levels deep, more than the {MAX_DEPTH}"):
        parse_model_answer("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(AnswerError, match="nested 1000000 levels deep"):
        parse_model_answer("[" * 1_000_000)


def test_brackets_inside_strings_do_not_count_as_nesting():
    answer = parse_model_answer('[{"label": "' + "[" * 500 + '"}]')
    assert answer.data == [{"label": "[" * 500}]


def test_too_long_an_answer_is_refused():
    text = "[" + "1, " * 10 + "1]"
    assert parse_model_answer(text, max_chars=33).kept == 11
    with pytest.raises(AnswerError, match="the answer is 33 characters long, more than the 32"):
        parse_model_answer(text, max_chars=32)


def test_huge_numbers_do_not_escape_as_other_errors():
    answer = parse_model_answer("[" + BOX + ', {"bbox_2d": [1' + "0" * 5000 + "]}]")
    assert answer.cut_off and answer.data == [BOXES[0]] and "Exceeds the limit" in answer.problem
    assert parse_model_answer('[{"bbox_2d": [1e999, 0, 1, 1]}]').data[0]["bbox_2d"][0] == float("inf")


@pytest.mark.parametrize("text", [
    '```json\n[' + (BOX + ", ") * 40_000,  # 2 MB cut-off answer: 40000 objects kept
    '"' + 'a\\"' * 600_000,  # escaped quotes that never close: linear, not quadratic
    "[" + '"a\\' * 600_000,
    "[" + ", " * 900_000 + "]",
    "[" * 16 + "{" * 1_000_000,
])
def test_hostile_answers_take_bounded_time(text):
    started = time.perf_counter()
    try:
        parse_model_answer(text)
    except AnswerError:
        pass
    assert time.perf_counter() - started < 3.0  # about 0.3 s each on a 2-core CI machine
