"""The concept segmenter contract as a pytest class: one subclass per concept backend runs every check.

In a plugin's tests::

    from segkit.testing import ConceptSegmenterContract

    class TestContract(ConceptSegmenterContract):
        backend = "my-concept-backend"

The backend is made as ``SegmenterContract`` makes one (``<package>.testing.offline_segmenter(name,
workdir, **options)`` when the plugin has one, else the registered class with ``options``); override
``make(workdir)`` to make it another way. ``concepts`` are what it is asked on ``sample_image()`` (by
default the phrase "shape" and an exemplar box around the sample's disc); set them to concepts your
backend finds there. The checks:

- the name is registered by the installed plugin, as the class ``make`` returns, of kind "concept";
- ``__init__`` and ``check_ready`` stay cheap (no ``heavy_modules`` imported; a one-line reason);
- answers pass ``check_concept_instances`` (bool full-size masks, finite scores and boxes, one concept
  index in range per instance), for all the concepts and for one alone, with at least one instance;
- an instance keeps its concept when the concepts are reordered (same masks per concept, IoU >= ``order_iou``);
- ``segment_concepts_batch`` on images of different sizes equals ``segment_concepts`` on each alone;
- ``settings()`` is JSON-serialisable, before and after ``load``; ``close()`` may be called twice.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from segkit.plugins.concept_segmenter import (
    Concept,
    ConceptInstances,
    ConceptSegmenter,
    check_concept_instances,
)
from segkit.testing.contract import HEAVY_MODULES, _fresh_process_readiness

_DISC = (10.0, 12.0, 62.0, 70.0)  # SAMPLE_BOXES[0]: the sample image's disc


class ConceptSegmenterContract:
    """Subclass it as ``Test...`` and set ``backend`` (see the module docstring)."""

    backend: ClassVar[str] = ""
    options: ClassVar[dict[str, Any]] = {}
    concepts: ClassVar[tuple[Concept, ...]] = (Concept(text="shape"), Concept(boxes=(_DISC,)))
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES
    order_iou: ClassVar[float] = 0.98
    batch_iou: ClassVar[float] = 0.98

    def make(self, workdir: Path) -> ConceptSegmenter | contextlib.AbstractContextManager[ConceptSegmenter]:
        from segkit.testing import backend_entry, offline_segmenter

        return offline_segmenter(backend_entry(self.backend), workdir, **self.options)

    @contextlib.contextmanager
    def _made(self, workdir: Path) -> Iterator[ConceptSegmenter]:
        with contextlib.ExitStack() as stack:
            made = self.make(workdir)
            backend = made if isinstance(made, ConceptSegmenter) else stack.enter_context(made)
            try:
                yield backend
            finally:
                backend.close()

    @pytest.fixture(scope="class")
    @classmethod
    def loaded(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConceptSegmenter]:
        with cls()._made(tmp_path_factory.mktemp("concept-contract")) as backend:
            backend.load()
            yield backend

    def _ask(self, backend: ConceptSegmenter, image: np.ndarray, concepts: Sequence[Concept]) -> ConceptInstances:
        height, width = image.shape[:2]
        return check_concept_instances(backend.segment_concepts(image.copy(), list(concepts)), len(concepts), height,
                                       width, self.backend)

    # -- the checks -------------------------------------------------------------------------------

    def test_the_name_is_registered_by_the_installed_plugin(self, tmp_path: Path) -> None:
        from segkit.testing import backend_entry

        assert self.backend, f"{type(self).__name__} must set backend = '<name>'"
        entry = backend_entry(self.backend)
        with self._made(tmp_path) as backend:
            assert isinstance(backend, entry.cls) and backend.kind == "concept", f"{self.backend!r} made as {type(backend)}"
            assert backend.name == entry.name

    def test_creating_and_checking_it_stay_cheap(self) -> None:
        report = _fresh_process_readiness(self.backend, self.heavy_modules)
        assert report["heavy"] == [], f"creating {self.backend!r}, check_ready and `segkit backends` imported {report['heavy']}"
        assert report["listing"] == 0, report
        assert "\n" not in report["reason"], report["reason"]

    def test_instances_follow_the_contract(self, loaded: ConceptSegmenter) -> None:
        from segkit.testing import sample_image

        image = sample_image()
        every = self._ask(loaded, image, self.concepts)
        assert len(every.masks) >= 1, f"{self.backend}: no instance for {self.concepts} on sample_image()"
        for index, concept in enumerate(self.concepts):
            alone = self._ask(loaded, image, [concept])
            assert set(alone.concepts.tolist()) <= {0}, f"{self.backend}: one concept answered as {set(alone.concepts.tolist())}"
            assert len(alone.masks) == int((every.concepts == index).sum()), (
                f"{self.backend}: concept {index} alone gave {len(alone.masks)} instances, with the others"
                f" {int((every.concepts == index).sum())}")

    def test_an_instance_keeps_its_concept_when_the_concepts_are_reordered(self, loaded: ConceptSegmenter) -> None:
        from segkit.testing import sample_image

        image = sample_image()
        order = list(range(len(self.concepts)))[::-1]
        first = self._ask(loaded, image, self.concepts)
        again = self._ask(loaded, image, [self.concepts[i] for i in order])
        for new_index, old_index in enumerate(order):
            _assert_same_instances(first, old_index, again, new_index, self.order_iou,
                                   f"{self.backend}: concept {old_index} asked as concept {new_index}")

    def test_segment_concepts_batch_equals_one_image_at_a_time(self, loaded: ConceptSegmenter) -> None:
        from segkit.testing import sample_image

        images = [sample_image(0), sample_image(1, (200, 150)), sample_image(2, (97, 131))]
        asked = [list(self.concepts), list(self.concepts[:1]), list(self.concepts[::-1])]
        batched = loaded.segment_concepts_batch([i.copy() for i in images], asked)
        assert len(batched) == len(images), f"{self.backend}: {len(batched)} answers for {len(images)} images"
        for number, (image, concepts, answer) in enumerate(zip(images, asked, batched)):
            height, width = image.shape[:2]
            answer = check_concept_instances(answer, len(concepts), height, width, self.backend)
            alone = self._ask(loaded, image, concepts)
            for index in range(len(concepts)):
                _assert_same_instances(alone, index, answer, index, self.batch_iou, f"{self.backend}: image {number} batched")

    def test_settings_are_json(self, loaded: ConceptSegmenter, tmp_path: Path) -> None:
        with self._made(tmp_path) as fresh:
            json.dumps(fresh.settings())
        json.dumps(loaded.settings())

    def test_close_may_be_called_twice_loaded_or_not(self, tmp_path: Path) -> None:
        with self._made(tmp_path / "never-loaded") as backend:
            backend.close()
            backend.close()
        with self._made(tmp_path / "loaded") as backend:
            backend.load()
            backend.close()
            backend.close()


def _assert_same_instances(a: ConceptInstances, a_index: int, b: ConceptInstances, b_index: int, least: float,
                           where: str) -> None:
    """The instances ``a`` gives concept ``a_index`` and those ``b`` gives ``b_index`` pair up one to one
    with mask IoU >= ``least`` and the same scores."""
    from segkit.testing import iou

    mine = [(m, s) for m, s, c in zip(a.masks, a.scores, a.concepts) if c == a_index]
    theirs = [(m, s) for m, s, c in zip(b.masks, b.scores, b.concepts) if c == b_index]
    assert len(mine) == len(theirs), f"{where}: {len(mine)} instances, then {len(theirs)}"
    free = list(range(len(theirs)))
    for mask, score in mine:
        match = next((k for k in free if iou(mask, theirs[k][0]) >= least), None)
        assert match is not None, f"{where}: an instance (score {score:.3f}) has no counterpart with IoU >= {least}"
        assert abs(float(score) - float(theirs[match][1])) <= 1e-3, f"{where}: score {score} became {theirs[match][1]}"
        free.remove(match)
