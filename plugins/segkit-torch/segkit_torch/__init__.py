"""segkit-torch: the torch runtime segkit's model plugins share (no backends of its own).

Cheap to import: only ``segkit_torch.options`` is loaded here, so a plugin can validate its options and
answer `segkit backends` without importing torch. The rest imports torch and belongs in ``load``:

    from segkit_torch.options import DtypeName, check_device          # option fields (no torch)
    from segkit_torch import runtime                                  # device, dtype, TF32, context, memory
    from segkit_torch.compile import compile_forward                  # torch.compile, CUDA only
    from segkit_torch.checkpoints import read_state_dict, identify_sam2
    from segkit_torch.testing import BuildOnce, link                  # random-weight checkpoints in tests

See README.md for each function.
"""

from segkit_torch.options import DEVICE_HELP, DTYPE_HELP, DtypeName, check_device

__version__ = "0.1.0"
__all__ = ["DEVICE_HELP", "DTYPE_HELP", "DtypeName", "check_device"]
