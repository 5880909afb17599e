"""The built-in detection readers, their sniffing, and malformed input."""

import json
from pathlib import Path

import pytest

from segkit.errors import InputError
from segkit.inputs.box_spaces import NORMALIZED, PIXELS, BoxSpace
from segkit.inputs.detection_files import load_detections
from segkit.inputs.detections import resolve_detections
from segkit.inputs.readers.base import DetectionFormatError, ReaderContext
from segkit.plugins.host import get_host

READERS = {name: entry.cls() for name, entry in get_host().readers().items()}


def load(path: Path, reader="auto", context=ReaderContext()):
    return load_detections(path, READERS, reader, context)


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_builtin_readers_are_registered():
    assert {"qwen-json", "qwen-grounding", "coco"} <= set(READERS)


def test_qwen_json_seed_format(tmp_path):
    write(tmp_path / "0001.json", {"detections": [
        {"bbox_xyxy_norm": [0.1, 0.2, 0.5, 0.6], "label_ja": "りんご", "confidence": 0.8, "extra": 1},
        {"bbox_xyxy_norm": [0, 0, 1, 1], "label": "plate", "confidence": 0.5},
    ]})
    index = load(tmp_path)
    key, (path, reader, dets), error = index.lookup(Path("0001.jpg"))
    assert (key, reader, error) == ("0001", "qwen-json", None)
    assert [d.label for d in dets] == ["りんご", "plate"]
    assert dets[0].space == NORMALIZED and dets[0].confidence == 0.8
    assert dets[0].fields["extra"] == 1  # original fields are kept


def test_qwen_grounding_in_a_markdown_fence_with_input_size(tmp_path):
    answer = 'Here you go:\n```json\n[{"bbox_2d": [100, 50, 300, 150], "label": "cat"}]\n```\n'
    write(tmp_path / "cat.txt", answer)
    index = load(tmp_path, context=ReaderContext(BoxSpace.frame_of(400, 200)))
    _, (_, reader, dets), _ = index.lookup(Path("cat.png"))
    assert reader == "qwen-grounding"
    kept, _ = resolve_detections(dets, (800, 400))
    assert kept[0].box == pytest.approx((200, 100, 600, 300))  # rescaled from the 400x200 model input
    assert kept[0].confidence is None


def test_qwen_grounding_without_input_size_is_image_pixels(tmp_path):
    write(tmp_path / "a.json", [{"bbox_2d": [1, 2, 30, 40], "label": "x"}])
    _, (_, _, dets), _ = load(tmp_path).lookup(Path("a.jpg"))
    assert dets[0].space == PIXELS


def test_coco_results_with_categories_and_numeric_stems(tmp_path):
    data = {
        "images": [{"id": 7, "file_name": "photos/dog.jpg"}],
        "categories": [{"id": 3, "name": "犬"}],
        "annotations": [
            {"image_id": 7, "bbox": [10, 20, 30, 40], "score": 0.9, "category_id": 3},
            {"image_id": 139, "bbox": [0, 0, 5, 5], "score": 0.4, "category_id": 99},
        ],
    }
    source = write(tmp_path / "results.json", data)
    index = load(source)
    _, (_, reader, dets), _ = index.lookup(Path("dog.jpg"))
    assert reader == "coco" and dets[0].label == "犬"
    kept, _ = resolve_detections(dets, (100, 100))
    assert kept[0].box == (10, 20, 40, 60)  # x, y, w, h -> xyxy
    _, (_, _, other), _ = index.lookup(Path("000000000139.jpg"))  # COCO's zero-padded file names
    assert other[0].label == "class_99"


def test_coco_bare_results_list(tmp_path):
    source = write(tmp_path / "r.json", [{"image_id": "a", "bbox": [1, 1, 2, 2], "score": 0.5, "category_id": 1, "category_name": "cup"}])
    _, (_, _, dets), _ = load(source).lookup(Path("a.png"))
    assert dets[0].label == "cup" and dets[0].box_format == "xywh"


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON (line 1"),
        ({"detections": [{"label_ja": "x"}]}, "detection 0 has no 'bbox_xyxy_norm'"),
        ({"detections": [{"bbox_xyxy_norm": [0, 0, 1]}]}, "expected a list of 4 numbers"),
        ({"detections": [{"bbox_xyxy_norm": [0, "a", 1, 1]}]}, "expected a number"),
        ({"detections": [{"bbox_xyxy_norm": [0, 0, 1, 1], "confidence": "high"}]}, "confidence is 'high'"),
        ({"something": "else"}, "no reader recognises this file"),
    ],
)
def test_malformed_file_is_one_clear_error_naming_the_file(tmp_path, content, message):
    write(tmp_path / "bad.json", content)
    index = load(tmp_path)
    key, entry, error = index.lookup(Path("bad.jpg"))
    assert entry is None and message in error and str(tmp_path / "bad.json") in error
    assert "\n" not in error


def test_a_single_unreadable_file_ends_the_run(tmp_path):
    source = write(tmp_path / "all.json", "[1, 2")
    with pytest.raises(DetectionFormatError, match="all.json: not valid JSON"):
        load(source)


def test_forced_reader_that_does_not_fit(tmp_path):
    write(tmp_path / "a.json", [{"bbox_2d": [1, 2, 3, 4]}])
    _, entry, error = load(tmp_path, reader="qwen-json").lookup(Path("a.jpg"))
    assert entry is None and "expected an object with a 'detections' list" in error


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(InputError, match="do not exist"):
        load(tmp_path / "nope")
    with pytest.raises(InputError, match="no detection files"):
        load(tmp_path)


def test_non_utf8_file(tmp_path):
    (tmp_path / "a.json").write_bytes(b'{"detections": [{"label_ja": "\x82\xa0"}]}')
    _, _, error = load(tmp_path).lookup(Path("a.jpg"))
    assert "not UTF-8" in error


def test_detection_files_without_images_are_listed(tmp_path):
    write(tmp_path / "a.json", {"detections": []})
    write(tmp_path / "orphan.json", {"detections": []})
    index = load(tmp_path)
    index.lookup(Path("a.jpg"))
    assert [k for k, _ in index.unused()] == ["orphan"]


def test_confidence_threshold_and_degenerate_boxes(tmp_path):
    write(tmp_path / "a.json", {"detections": [
        {"bbox_xyxy_norm": [0.1, 0.1, 0.5, 0.5], "label": "kept", "confidence": 0.5},
        {"bbox_xyxy_norm": [0.1, 0.1, 0.5, 0.5], "label": "low", "confidence": 0.1},
        {"bbox_xyxy_norm": [0.5, 0.5, 0.5, 0.9], "label": "flat", "confidence": 0.9},
        {"bbox_xyxy_norm": [0.5, 0.5, 0.9, 0.2], "label": "swapped", "confidence": 0.9},
    ]})
    _, (_, _, raws), _ = load(tmp_path).lookup(Path("a.jpg"))
    kept, skipped = resolve_detections(raws, (100, 100), conf=0.2)
    assert [d.label for d in kept] == ["kept", "swapped"]
    assert [d.id for d in kept] == [0, 3]  # ids are positions in the source file
    assert kept[1].box == pytest.approx((50, 20, 90, 50))
    assert [(s.label, s.reason.split(" ")[0]) for s in skipped] == [("low", "confidence"), ("flat", "box")]


def test_readers_sharing_a_parser_parse_each_file_once(tmp_path, monkeypatch):
    import segkit.inputs.readers.base as module

    calls = []
    real = module.parse_json_text
    monkeypatch.setattr(module, "parse_json_text", lambda text, path: calls.append(path) or real(text, path))
    write(tmp_path / "a.json", [{"image_id": 1, "bbox": [0, 0, 1, 1]}])  # COCO: the last reader to sniff
    assert load(tmp_path.joinpath("a.json")).found["1"][1] == "coco"
    assert len(calls) == 1


def test_readers_warn_through_the_context(tmp_path):
    heard: list[str] = []
    write(tmp_path / "cut.txt", '```json\n[{"bbox_2d": [1, 2, 30, 40], "label": "a"}, {"bbox_2d": [5, 6')
    context = ReaderContext(BoxSpace.frame_of(100, 100), warn=heard.append)
    _, (_, reader, dets), _ = load(tmp_path, context=context).lookup(Path("cut.png"))
    assert reader == "qwen-grounding" and [d.label for d in dets] == ["a"] and dets[0].space == BoxSpace.frame_of(100, 100)
    assert heard == [f"{tmp_path / 'cut.txt'}: the answer was cut off (it ends inside the JSON, line 2 column 45);"
                     " kept the 1 complete object before it"]
    assert context.input_space == context.box_space  # the field's old name still reads


def test_reader_warnings_are_gathered_for_the_run_or_logged(tmp_path, caplog):
    path = write(tmp_path / "cut.txt", '[{"bbox_2d": [1, 2, 30, 40], "label": "a"}, {')
    index = load(tmp_path)  # segkit run prints the index's warnings
    assert index.warnings == [f"{path}: the answer was cut off (it ends inside the JSON, line 1 column 45); kept the 1 complete object before it"]
    reader = READERS["qwen-grounding"]
    with caplog.at_level("WARNING", logger="segkit"):  # a reader called directly logs them
        reader.read(reader.parse(path.read_text(), path), path, ReaderContext())
    assert "kept the 1 complete object before it" in caplog.text


def test_a_fence_inside_a_json_string_is_data(tmp_path):
    # segkit detect keeps the model's raw answer, fence and all, beside the boxes.
    write(tmp_path / "a.json", {"answer": "```json\n[{\"bbox_2d\": [1, 2, 3, 4]}]\n```",
                                "detections": [{"bbox_xyxy_norm": [0.1, 0.2, 0.3, 0.4], "label": "cup"}]})
    _, (_, reader, dets), error = load(tmp_path).lookup(Path("a.jpg"))
    assert error is None and reader == "qwen-json" and dets[0].label == "cup"
