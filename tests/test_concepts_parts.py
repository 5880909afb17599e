"""The parts of concept runs on their own: pairing by IoU, where concepts come from, the concept worker's
batches, and records of box-only runs that stay what they were."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb

import segkit
from segkit.errors import ConfigError
from segkit.pipeline.concept_sources import ConceptRequest, clean_phrases, image_concepts
from segkit.inputs.detections import Detection
from segkit.outputs.mask_set import MaskSet
from segkit.outputs.matching import greedy_pairs, label_gate, match_boxes, match_masks
from segkit.pipeline.backend_calls import BackendCalls
from segkit.pipeline.backends import BackendSpec, activate
from segkit.plugins.concept_segmenter import Concept, ConceptContractError
from segkit.plugins.host import get_host
from segkit.plugins.mock import box_mask

# -- pairing ---------------------------------------------------------------------------------------


def test_greedy_pairs_take_the_highest_iou_first_one_to_one():
    ious = np.array([[0.9, 0.8, 0.0],
                     [0.95, 0.6, 0.0],
                     [0.0, 0.55, 0.49]])
    # 0.95 takes (1, 0); row 0 then gets column 1 (0.8); row 2 is left (0.55 is taken, 0.49 below the threshold).
    assert greedy_pairs(ious, None, 0.5) == [(1, 0, 0.95), (0, 1, 0.8)]
    assert greedy_pairs(np.array([[0.7, 0.7], [0.7, 0.7]]), None, 0.5) == [(0, 0, 0.7), (1, 1, 0.7)]  # ties: lower indices
    assert greedy_pairs(np.zeros((0, 3)), None, 0.5) == []


def test_a_label_the_other_side_uses_pairs_only_within_it():
    allowed = label_gate(["cat", "dog"], ["cat", "person"], gate_a=False, gate_b=True)
    # "cat" instance: a detection label, so only the cat detection; "person": no detection says so, any detection.
    assert allowed.tolist() == [[True, True], [False, True]]
    both = label_gate(["cat", "dog"], ["cat", "person"])  # both gated: side a's cat too pairs only with a cat
    assert both.tolist() == [[True, False], [False, True]]
    assert label_gate(["cat", "dog"], ["dog", "bird"]).tolist() == [[False, True], [True, False]]  # cat and bird: both unknown across


def test_instances_pair_with_detections_by_box_iou_within_their_label():
    dets = [(0, 0, 10, 10), (20, 0, 30, 10)]
    pairing = match_boxes(dets, ["人", "犬"], [(0, 0, 10, 8), (20, 0, 30, 10), (50, 50, 60, 60)], ["person", "猫", "person"])
    # person (unknown to the detections) pairs with 人 at 0.8; 猫 is no detection label either, pairs with 犬 at 1.0.
    assert pairing.pairs == [(1, 1, 1.0), (0, 0, 0.8)] and pairing.only_a == [] and pairing.only_b == [2]
    gated = match_boxes(dets, ["人", "犬"], [(20, 0, 30, 10)], ["人"])  # labelled 人: not the dog, however well it fits
    assert gated.pairs == [] and gated.only_a == [0, 1] and gated.only_b == [0]


def test_masks_pair_by_mask_iou_and_empty_masks_pair_with_nothing():
    size = (40, 20)
    a = MaskSet.from_dense(np.stack([box_mask(np.array(b, float), size[1], size[0]) for b in [(0, 0, 10, 10), (20, 0, 30, 10)]]))
    b = MaskSet.from_dense(np.stack([box_mask(np.array((0, 0, 10, 5), float), size[1], size[0]), np.zeros((20, 40), bool)]))
    pairing = match_masks(a, ["x", "x"], b, ["x", "x"])
    assert pairing.pairs == [(0, 0, 0.5)] and pairing.only_a == [1] and pairing.only_b == [1]


# -- where concepts come from ----------------------------------------------------------------------


def det(i: int, label: str, box=(0, 0, 10, 10)) -> Detection:
    return Detection(i, label, box, 0.9, {})


def test_concepts_are_the_phrases_then_each_label_once():
    dets = [det(0, "犬", (1, 2, 3, 4)), det(1, "cat"), det(2, "犬", (5, 6, 7, 8))]
    both = image_concepts(ConceptRequest(("person", "cat"), from_labels=True, exemplars=True), dets, 64).concepts
    assert [(c.text, c.label, c.boxes) for c in both] == [
        ("person", "person", ()), ("cat", "cat", ()), ("犬", "犬", ((1, 2, 3, 4), (5, 6, 7, 8))), ("cat", "cat", ((0, 0, 10, 10),))]
    labels = image_concepts(ConceptRequest(("cat",), from_labels=True), dets, 64).concepts
    assert [(c.text, c.boxes) for c in labels] == [("cat", ()), ("犬", ())]  # the label 'cat' is the phrase already
    examples = image_concepts(ConceptRequest(exemplars=True), dets, 64).concepts
    assert [(c.text, c.label, len(c.boxes), c.positive()) for c in examples] == [(None, "犬", 2, [True, True]), (None, "cat", 1, [True])]
    assert image_concepts(ConceptRequest(("a",)), [], 64).concepts == [Concept("a", label="a")]
    too_many = image_concepts(ConceptRequest(("a",), from_labels=True), dets, 2)
    assert too_many.concepts == [] and too_many.problem.startswith("3 concepts (1 --prompt phrase(s) and 2 detection label(s))")


def test_phrases_are_trimmed_and_checked():
    assert clean_phrases([" red car ", "person", "red car"], 8, 50) == ("red car", "person")
    for phrases, message in (([""], "an empty phrase"), (["x" * 60], "more than limits.max_label_chars (50)"),
                             (["a", "b", "c"], "3 phrases, more than limits.max_concepts_per_image (2)")):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            clean_phrases(phrases, 2, 50)


# -- the concept worker ----------------------------------------------------------------------------


class Gated(segkit.ConceptSegmenter):
    """Holds its first call until released (so that the next requests queue up for one batch), answers one
    box per concept, fails any batch with a black image in it, and breaks the contract on a grey one."""

    batch_size = 3
    calls: list = []
    release = threading.Event()

    def _one(self, image, concepts):
        h, w = image.shape[:2]
        if int(image[0, 0, 0]) == 128:
            return segkit.ConceptInstances(np.zeros((1, h, w), bool), np.ones(1), np.zeros((1, 4)), np.array([len(concepts)]))
        masks = np.stack([box_mask(np.array((0, 0, 4, 4), float), h, w) for _ in concepts]) if concepts else np.zeros((0, h, w), bool)
        return segkit.ConceptInstances(masks, np.ones(len(concepts)), np.tile([0, 0, 4, 4], (len(concepts), 1)), np.arange(len(concepts)))

    def segment_concepts(self, image, concepts):
        self.calls.append(("one", int(image[0, 0, 0])))
        self.release.wait(10)
        return self._one(image, concepts)

    def segment_concepts_batch(self, images, concepts):
        self.calls.append(("batch", [int(i[0, 0, 0]) for i in images]))
        if any(int(i[0, 0, 0]) == 0 for i in images):
            raise RuntimeError("a batch with a black image")
        return [self._one(i, c) for i, c in zip(images, concepts)]


class GatedPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_concept_segmenters(register):
        register("gated", Gated)


def test_the_concept_worker_batches_falls_back_one_by_one_and_checks_answers():
    host = get_host()
    host.register(GatedPlugin, name="gated-plugin")
    try:
        backend = activate(host, BackendSpec("gated"))
        calls = BackendCalls([backend])
        Gated.calls.clear()
        Gated.release.clear()
        image = lambda level: np.full((8, 8, 3), level, np.uint8)  # noqa: E731
        concepts = [Concept("a", label="a"), Concept("b", label="b")]
        first = calls.submit("gated", image(1), concepts)
        while not Gated.calls:
            threading.Event().wait(0.01)  # the first call has started and holds the worker
        later = [calls.submit("gated", image(level), concepts[:1]) for level in (2, 0, 128)]
        Gated.release.set()
        found, _ = first.result(10)
        assert found.concepts.tolist() == [0, 1] and found.masks.shape == (2, 8, 8)
        assert later[0].result(10)[0].masks.shape == (1, 8, 8) and later[1].result(10)[0].masks.shape == (1, 8, 8)
        with pytest.raises(ConceptContractError, match="answered concept 1 of 1"):
            later[2].result(10)
        calls.close()
        # One call, then the three waiting in one batch, which failed and was retried image by image.
        assert Gated.calls == [("one", 1), ("batch", [2, 0, 128]), ("one", 2), ("one", 0), ("one", 128)]
        assert (backend.stats.concepts, backend.stats.masks, backend.stats.failures) == (4, 4, 1)
    finally:
        host.unregister("gated-plugin")


# -- box-only runs keep their files ----------------------------------------------------------------


def test_records_and_report_of_a_box_only_run_have_no_concept_fields(cli):
    write_rgb(cli.images / "a.png", (64, 48))
    write_qwen(cli.dets / "a.json", [qwen_det((8, 6, 40, 30), (64, 48), "cup")])
    assert cli.run("mock", "mock-ellipse").exit_code == 0
    record = cli.record("a")
    assert list(record) == ["version", "image", "image_path", "width", "height", "detections_file", "reader", "conf_threshold",
                            "backends", "failed_backends", "detections", "skipped", "panel", "backend_records", "files"]
    assert list(record["detections"][0]["backends"]["mock"]) == ["area_px", "score", "mask", "flags"]
    backend = json.loads((cli.out / "backends" / "mock" / "a.json").read_text(encoding="utf-8"))
    assert list(backend) == ["version", "backend", "image", "image_path", "width", "height", "detections_file", "reader",
                             "conf_threshold", "plugin", "settings", "seconds", "failed", "detections", "answers", "skipped"]
    report = json.loads((cli.out / "report.json").read_text(encoding="utf-8"))
    assert "concepts" not in report and "concept_pairs" not in report and "concepts" not in report["definitions"]
    assert (cli.out / "report.csv").read_text(encoding="utf-8").splitlines()[0].endswith("flag_fragmented")
