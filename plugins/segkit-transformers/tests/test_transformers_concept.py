"""hf-sam3-concept on a small random-weight SAM 3 folder (facebook/sam3's layout with its tokenizer) loaded
the user's way: the concept contract, the same answer as transformers' documented call (the image encoded
inside the model call) on the same inputs, text and exemplars reach the model, `segkit run --prompt`, and a
missing folder in one line with exit 2.

Random weights score every query about alike (0.23 to 0.27 here), so most tests keep every query."""

from __future__ import annotations

import numpy as np
import pytest

from segkit import Concept, load_rgb
from segkit.testing import SAMPLE_BOXES, ConceptSegmenterContract, read_json, sample_image, write_sample_dataset
from segkit_torch.testing import only_line
from segkit_transformers.testing import offline_segmenter, random_model_folder

BOX = tuple(float(v) for v in SAMPLE_BOXES[1])


class TestContract(ConceptSegmenterContract):
    backend = "hf-sam3-concept"
    options = {"threshold": 0.0}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    with offline_segmenter("hf-sam3-concept", tmp_path_factory.mktemp("hfc"), threshold=0.0) as segmenter:
        segmenter.load()
        yield segmenter


@pytest.mark.parametrize("concept", [Concept(text="shape"), Concept(text="shape", boxes=(BOX, (0.0, 0.0, 30.0, 30.0)), negative=(False, True)),
                                     Concept(boxes=(BOX,))], ids=["text", "text+exemplars", "exemplar"])
def test_the_answer_is_transformers_called_as_documented(loaded, concept):
    """Upstream's one-call form (pixel_values and the prompt together) against the backend's image features
    computed once and reused: the same instances."""
    import torch

    image = sample_image()
    processor, network = loaded.processor, loaded.network
    prompt = {"images": image, "return_tensors": "pt", "text": concept.text}
    if concept.boxes:
        prompt |= {"input_boxes": [concept.box_array().tolist()], "input_boxes_labels": [[int(p) for p in concept.positive()]]}
    inputs = processor(**prompt)
    with torch.inference_mode():
        outputs = network(**inputs)
    expected = processor.post_process_instance_segmentation(outputs, threshold=0.0, mask_threshold=0.5, target_sizes=inputs["original_sizes"].tolist())[0]
    got = loaded.segment_concepts(image, [concept])
    assert len(got.scores) == len(expected["scores"]) > 0
    np.testing.assert_allclose(got.scores, expected["scores"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.boxes, expected["boxes"].numpy(), rtol=1e-4, atol=1e-3)
    assert (got.masks != expected["masks"].bool().numpy()).mean() < 1e-4


def test_text_and_exemplars_reach_the_model(loaded):
    image = sample_image()
    concepts = {
        "cat": Concept(text="cat"),
        "dog": Concept(text="dog"),
        "cat+box": Concept(text="cat", boxes=(BOX,)),
        "cat+other box": Concept(text="cat", boxes=(tuple(float(v) for v in SAMPLE_BOXES[0]),)),
        "cat+box negative": Concept(text="cat", boxes=(BOX,), negative=(True,)),
    }
    top = {name: float(loaded.segment_concepts(image, [concept]).scores.sum()) for name, concept in concepts.items()}
    assert len(set(top.values())) == len(top), top


def test_segkit_run_with_a_prompt(segkit_cli, tmp_path, loaded, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the repository's segkit config (its example detections)
    data = write_sample_dataset(tmp_path / "one", n_images=1)
    scores = loaded.segment_concepts(load_rgb(next(data.images.iterdir())), [Concept(text="thing")]).scores
    threshold = float(np.sort(scores)[-4])  # keeps the 3 best
    random_model_folder("hf-sam3-concept", tmp_path / "hf", layout="concept")
    env = {"SEGKIT_TRANSFORMERS_CONCEPT_MODEL_DIR": str(tmp_path / "hf"), "SEGKIT_TRANSFORMERS_CONCEPT_DEVICE": "cpu",
           "SEGKIT_TRANSFORMERS_CONCEPT_THRESHOLD": repr(threshold)}
    out = tmp_path / "out"
    result = segkit_cli.invoke("run", "-b", "hf-sam3-concept", "--prompt", "thing", "-i", str(data.images), "-o", str(out), env=env)
    assert result.exit_code == 0, result.output
    record = read_json(out / "json" / "sample00.json")
    settings = record["backends"]["hf-sam3-concept"]["settings"]
    assert (settings["source"], settings["device"], settings["threshold"]) == ("sam3", "cpu", threshold)
    found = record["instances"]["hf-sam3-concept"]
    assert len(found) == 3 and all(i["label"] == "thing" and i["concept"] == 0 and i["score"] > threshold for i in found)


def test_a_missing_folder_is_one_line_and_exit_2(segkit_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"SEGKIT_TRANSFORMERS_CONCEPT_MODEL_DIR": str(tmp_path / "nothing"), "SEGKIT_TRANSFORMERS_CONCEPT_DEVICE": "cpu"}
    result = segkit_cli.invoke("run", "-b", "hf-sam3-concept", "--prompt", "thing", "-i", str(segkit_cli.dataset.images), "-o", str(tmp_path / "o"), env=env)
    assert result.exit_code == 2
    assert only_line(result.output).startswith("error: backend 'hf-sam3-concept' is not ready:")
