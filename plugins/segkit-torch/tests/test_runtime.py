"""The shared torch runtime: options, device and precision policy, compile guard, checkpoint reading."""

from __future__ import annotations

import pytest
import torch

from segkit import BackendNotReady
from segkit_torch import TorchOptions, check_device
from segkit_torch import runtime
from segkit_torch.checkpoints import identify_sam2, read_state_dict
from segkit_torch.compile import compile_forward, fixed_batch
from segkit_torch.testing import only_line


def test_device_option_values():
    assert check_device(" CUDA:1 ") == "cuda:1"
    assert [check_device(v) for v in ("auto", "cpu", "cuda", "mps")] == ["auto", "cpu", "cuda", "mps"]
    for bad in ("gpu", "0", "cuda:x", "cuda:"):
        with pytest.raises(ValueError, match="use auto, cpu, cuda, cuda:N or mps"):
            check_device(bad)


def test_every_torch_backends_options():
    from pydantic import ValidationError

    from segkit_torch.models import ModelFile, by_key
    from segkit_torch.options import model_file_options

    assert TorchOptions(device=" CUDA:1 ").device == "cuda:1"
    for bad, match in (({"device": "gpu0"}, "auto, cpu, cuda"), ({"dtype": "float8"}, "float32"),
                       ({"batch_size": 0}, "greater than or equal to 1"), ({"weights": "x"}, "Extra inputs")):
        with pytest.raises(ValidationError, match=match):
            TorchOptions(**bad)

    models = by_key(ModelFile("tiny", "mine-tiny", "mine_t.pt", "https://example.org/"), ModelFile("large", "mine-large", "mine_l.pt", ""))

    @model_file_options(models, "checkpoint_{key}", folder="checkpoint_dir")
    class MineOptions(TorchOptions):
        """Mine."""

    assert MineOptions.__doc__ == "Mine." and MineOptions(checkpoint_tiny="a.pt").checkpoint_tiny.name == "a.pt"
    assert MineOptions.model_fields["checkpoint_large"].description == "mine-large's file (default: checkpoint_dir/mine_l.pt)"
    assert models["tiny"].url == "https://example.org/mine_t.pt"


def test_auto_device_prefers_cuda_then_mps_then_cpu():
    device = runtime.resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert device.type == expected
    if device.type == "cuda":
        assert device.index == torch.cuda.current_device()
    assert runtime.resolve_device("cpu") == torch.device("cpu")


def test_a_device_that_is_not_here_is_one_line():
    with pytest.raises(BackendNotReady) as caught:
        runtime.resolve_device("cuda:99")
    assert "CUDA is not available here" in only_line(str(caught.value)) or "does not exist" in str(caught.value)
    if not torch.backends.mps.is_available():
        with pytest.raises(BackendNotReady, match="MPS is not available here; use device=auto or cpu"):
            runtime.resolve_device("mps")


def test_precision_policy():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert runtime.resolve_dtype("auto", cuda) == torch.bfloat16
    assert runtime.resolve_dtype("auto", cpu) == torch.float32
    assert runtime.resolve_dtype("float16", cpu) == torch.float16
    assert runtime.enable_tf32(cpu) is False


def test_inference_context_autocasts_only_below_float32():
    cpu = torch.device("cpu")
    layer = torch.nn.Linear(4, 4)
    with runtime.inference_context(cpu, torch.float32):
        assert torch.is_inference_mode_enabled()
        assert layer(torch.ones(1, 4)).dtype == torch.float32
    with runtime.inference_context(cpu, torch.bfloat16):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    assert not torch.is_inference_mode_enabled()
    runtime.release(cpu)  # nothing to hand back on the CPU, and no error


def test_compile_is_refused_off_cuda_in_one_line():
    layer = torch.nn.Linear(4, 4)
    forward = layer.forward
    with pytest.raises(BackendNotReady) as caught:
        compile_forward(layer, torch.device("cpu"), "sam2.compile")
    message = only_line(str(caught.value))
    assert "sam2.compile=true compiles for CUDA only, and the device here is cpu" in message
    assert layer.forward == forward  # untouched


def test_fixed_batch_pads_with_the_last_item():
    assert fixed_batch(["a", "b"], 4) == ["a", "b", "b", "b"]
    assert fixed_batch(["a"], 1) == ["a"]
    with pytest.raises(ValueError):
        fixed_batch([], 2)
    with pytest.raises(ValueError):
        fixed_batch(["a", "b", "c"], 2)


def fake_sam2(width: int, blocks: int, version: str = "2.1") -> dict[str, torch.Tensor]:
    """The keys and shapes identification reads (no real model needed for the lookup itself)."""
    state = {"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(width, 3, 7, 7)}
    state.update({f"image_encoder.trunk.blocks.{i}.norm1.weight": torch.zeros(width) for i in range(blocks)})
    if version == "2.1":
        state["no_obj_embed_spatial"] = torch.zeros(1, 64)
    return state


def test_identify_sam2_sizes_and_versions():
    assert identify_sam2(fake_sam2(112, 24)).describe() == "SAM 2.1 b+"
    assert identify_sam2(fake_sam2(144, 48, "2.0")).describe() == "SAM 2.0 large"
    assert identify_sam2(fake_sam2(96, 16)).size == "small"
    assert identify_sam2(fake_sam2(64, 3)).size == "unknown (Hiera width 64, 3 blocks)"
    assert identify_sam2({"something.else": torch.zeros(1)}) is None


def test_read_state_dict(tmp_path):
    state = fake_sam2(96, 12)
    torch.save({"model": state}, tmp_path / "good.pt")
    found, problem = read_state_dict(tmp_path / "good.pt")
    assert problem == "" and set(found) == set(state)

    torch.save(state, tmp_path / "bare.pt")
    found, problem = read_state_dict(tmp_path / "bare.pt")
    assert found is not None and problem == "its weights are not under the key 'model'"

    torch.save({"optimizer": {}, "epoch": 3}, tmp_path / "other.pt")
    found, problem = read_state_dict(tmp_path / "other.pt")
    assert found is None and problem == "it holds no weights under the key 'model' (found: optimizer, epoch)"

    (tmp_path / "page.pt").write_text("<html>404 Not Found</html>")
    found, problem = read_state_dict(tmp_path / "page.pt")
    assert found is None and only_line(problem).startswith("it is not a readable PyTorch checkpoint (")

    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # cannot be memory-mapped
    found, problem = read_state_dict(tmp_path / "legacy.pt", key_required=False)
    assert problem == "" and set(found) == set(state)
