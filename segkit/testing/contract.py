"""The segmenter contract as a pytest class: one subclass per backend runs every check.

In a plugin's tests::

    from segkit.testing import SegmenterContract

    class TestContract(SegmenterContract):
        backend = "sam2-tiny"

That is the whole test: the backend is made the way ``segkit.testing.offline_segmenter`` makes it
(``<package>.testing.offline_segmenter(name, workdir, **options)`` when the plugin has one, else the
registered class), with ``options``, e.g. a batch size that really batches::

    class TestContract(SegmenterContract):
        backend = "sam2-tiny"
        options = {"batch_size": 4}

Override ``make(workdir)`` to make it another way: it returns a segmenter, not yet loaded, or a context
manager yielding one. The checks:

- the name is registered by the installed plugin, as the class ``make`` returns;
- ``__init__`` and ``check_ready`` stay cheap: in a fresh process, creating the backend, checking it
  and `segkit backends` import none of ``heavy_modules``, and the readiness reason is one line;
- one bool (H, W) mask per box, in box order, with finite scores; N=1 works (``check_segmenter_contract``);
- ``segment_batch`` on images of different sizes equals ``segment`` on each image alone;
- ``settings()`` is JSON-serialisable, before and after ``load``;
- ``close()`` may be called twice, loaded or not.

The backend is loaded once per class (a class-scoped fixture) for the checks that segment.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Iterator

import numpy as np
import pytest

from segkit.plugins.segmenter import Segmenter, check_segmentation

HEAVY_MODULES = ("torch", "torchvision", "transformers", "ultralytics", "sam2", "sam3", "hydra", "timm")


class SegmenterContract:
    """Subclass it as ``Test...`` and set ``backend`` (see the module docstring)."""

    backend: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}  # for the backend's Options (through its offline_segmenter)
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES  # what listing and checking must not import
    order_iou: ClassVar[float] = 0.98  # a mask must stay this close to itself when the boxes are reordered
    batch_iou: ClassVar[float] = 0.98  # a batched mask against the same image alone

    def make(self, workdir: Path) -> Segmenter | ContextManager[Segmenter]:
        """The backend, ready to load offline, not yet loaded (or a context manager yielding it)."""
        from segkit.testing import backend_entry, offline_segmenter

        return offline_segmenter(backend_entry(self.backend), workdir, **self.options)

    # -- fixtures ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _made(self, workdir: Path) -> Iterator[Segmenter]:
        with contextlib.ExitStack() as stack:
            made = self.make(workdir)
            segmenter = made if isinstance(made, Segmenter) else stack.enter_context(made)
            try:
                yield segmenter
            finally:
                segmenter.close()

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Segmenter]:
        with cls()._made(tmp_path_factory.mktemp("contract")) as segmenter:
            segmenter.load()
            yield segmenter

    # -- the checks -------------------------------------------------------------------------------

    def test_the_name_is_registered_by_the_installed_plugin(self, tmp_path: Path) -> None:
        from segkit.testing import backend_entry

        assert self.backend, f"{type(self).__name__} must set backend = '<name>'"
        entry = backend_entry(self.backend)
        with self._made(tmp_path) as segmenter:
            assert isinstance(segmenter, entry.cls), f"{self.backend!r} is registered as {entry.cls}, made as {type(segmenter)}"
            assert segmenter.name == entry.name

    def test_creating_and_checking_it_stay_cheap(self) -> None:
        report = _fresh_process_readiness(self.backend, self.heavy_modules)
        assert report["heavy"] == [], f"creating {self.backend!r}, check_ready and `segkit backends` imported {report['heavy']}"
        assert report["listing"] == 0, report
        assert "\n" not in report["reason"], report["reason"]

    def test_one_bool_mask_per_box_in_box_order_with_scores(self, loaded: Segmenter) -> None:
        from segkit.testing import check_segmenter_contract

        check_segmenter_contract(loaded, order_iou=self.order_iou)

    def test_segment_batch_equals_one_image_at_a_time(self, loaded: Segmenter) -> None:
        from segkit.testing import iou, sample_batch

        images, boxes = sample_batch()
        batched = loaded.segment_batch([image.copy() for image in images], [b.copy() for b in boxes])
        assert len(batched) == len(images), f"{self.backend}: {len(batched)} answers for {len(images)} images"
        for index, (image, image_boxes, answer) in enumerate(zip(images, boxes, batched)):
            height, width = image.shape[:2]
            answer = check_segmentation(answer, len(image_boxes), height, width, self.backend)
            alone = check_segmentation(loaded.segment(image.copy(), image_boxes.copy()), len(image_boxes), height, width, self.backend)
            for box, (a, b) in enumerate(zip(answer.masks, alone.masks)):
                score = iou(a, b)
                assert score >= self.batch_iou, f"{self.backend}: image {index} box {box}: batched vs alone IoU {score:.3f}"
            np.testing.assert_allclose(answer.scores, alone.scores, rtol=1e-3, atol=1e-4)

    def test_settings_are_json(self, loaded: Segmenter, tmp_path: Path) -> None:
        with self._made(tmp_path) as fresh:
            json.dumps(fresh.settings())
        json.dumps(loaded.settings())

    def test_close_may_be_called_twice_loaded_or_not(self, tmp_path: Path) -> None:
        with self._made(tmp_path / "never-loaded") as segmenter:
            segmenter.close()
            segmenter.close()
        with self._made(tmp_path / "loaded") as segmenter:
            segmenter.load()
            segmenter.close()
            segmenter.close()


def _fresh_process_readiness(backend: str, heavy: tuple[str, ...]) -> dict[str, Any]:
    """In a new interpreter: create ``backend`` with its default options, check it, list every backend."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from typer.testing import CliRunner
        from segkit.cli import app
        from segkit.plugins.options import resolve_options
        from segkit.plugins.host import get_host
        entry = get_host().backend({backend!r})
        readiness = entry.create(resolve_options(entry.cls, {{}}, {{}})).check_ready()
        listing = CliRunner().invoke(app, ["backends", "--json"])
        heavy = sorted(m for m in {tuple(heavy)!r} if m in sys.modules)
        print(json.dumps({{"heavy": heavy, "listing": listing.exit_code, "reason": readiness.reason}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class ConceptSegmenterContract(SegmenterContract):
    """The same suite for a concept backend (``segkit.ConceptSegmenter``): subclass it as ``Test...`` and set
    ``backend``. It keeps the registration, cheap-readiness, settings and close checks, and replaces the box
    checks with: valid ``ConceptInstances`` (``check_concept_instances``) for a phrase, exemplar boxes,
    both, and no concept at all (zero instances); ``segment_concepts_batch`` equals one image at a time."""

    batch_score_atol: ClassVar[float] = 1e-4

    def concepts(self) -> list[Any]:
        """The concepts the checks send: a phrase, one exemplar box, a phrase with a positive and a negative box."""
        from segkit.plugins.concept_segmenter import Concept
        from segkit.testing import SAMPLE_BOXES

        first, second = (tuple(float(v) for v in box) for box in SAMPLE_BOXES[:2])
        return [Concept(text="shape"), Concept(boxes=(first,), label="exemplar"), Concept(text="rectangle", boxes=(second, first), negative=(False, True))]

    def test_the_name_is_registered_by_the_installed_plugin(self, tmp_path: Path) -> None:
        from segkit.plugins.concept_segmenter import ConceptSegmenter

        super().test_the_name_is_registered_by_the_installed_plugin(tmp_path)
        with self._made(tmp_path / "kind") as segmenter:
            assert isinstance(segmenter, ConceptSegmenter), f"{self.backend!r} is not a segkit.ConceptSegmenter"

    def test_one_bool_mask_per_box_in_box_order_with_scores(self, loaded: Any) -> None:  # type: ignore[override]
        pytest.skip("a concept backend takes concepts, not boxes (see the concept checks)")

    def test_segment_batch_equals_one_image_at_a_time(self, loaded: Any) -> None:  # type: ignore[override]
        pytest.skip("a concept backend takes concepts, not boxes (see test_concepts_batch_equals_one_image_at_a_time)")

    def test_every_instance_is_valid_for_each_kind_of_concept(self, loaded: Any) -> None:
        from segkit.plugins.concept_segmenter import check_concept_instances
        from segkit.testing import sample_image

        image = sample_image()
        height, width = image.shape[:2]
        concepts = self.concepts()
        for index, concept in enumerate(concepts):
            check_concept_instances(loaded.segment_concepts(image.copy(), [concept]), 1, height, width, self.backend)
        answer = check_concept_instances(loaded.segment_concepts(image.copy(), concepts), len(concepts), height, width, self.backend)
        assert set(answer.concepts.tolist()) <= set(range(len(concepts)))
        none = check_concept_instances(loaded.segment_concepts(image.copy(), []), 0, height, width, self.backend)
        assert none.masks.shape == (0, height, width)

    def test_concepts_batch_equals_one_image_at_a_time(self, loaded: Any) -> None:
        from segkit.plugins.concept_segmenter import check_concept_instances
        from segkit.testing import sample_image

        images = [sample_image(seed=0), sample_image(seed=1, size=(120, 96))]
        concepts = [self.concepts()[:1], self.concepts()]
        batched = loaded.segment_concepts_batch([image.copy() for image in images], concepts)
        assert len(batched) == len(images), f"{self.backend}: {len(batched)} answers for {len(images)} images"
        for index, (image, image_concepts, answer) in enumerate(zip(images, concepts, batched)):
            height, width = image.shape[:2]
            answer = check_concept_instances(answer, len(image_concepts), height, width, self.backend)
            alone = check_concept_instances(loaded.segment_concepts(image.copy(), image_concepts), len(image_concepts), height, width, self.backend)
            assert answer.concepts.tolist() == alone.concepts.tolist(), f"{self.backend}: image {index}: other instances batched"
            np.testing.assert_allclose(answer.scores, alone.scores, rtol=1e-3, atol=self.batch_score_atol)
            assert (answer.masks != alone.masks).mean() <= 1 - self.batch_iou, f"{self.backend}: image {index}: masks differ batched"
