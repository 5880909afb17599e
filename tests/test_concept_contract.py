"""segkit.testing.ConceptSegmenterContract on the built-in mock-concept backend."""

from segkit.testing import ConceptSegmenterContract


class TestMockConcept(ConceptSegmenterContract):
    backend = "mock-concept"
