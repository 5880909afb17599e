"""segkit-torch: the engine segkit's torch backends share (no backends of its own).

Cheap to import: nothing here imports torch, so a plugin can validate its options and answer
`segkit backends` without it. A backend subclasses ``TorchSegmenter`` (see ``segkit_torch.segmenter``)::

    from segkit_torch import TorchOptions, TorchSegmenter, best_per_box
    from segkit_torch.checkpoints import read_state_dict, identify_sam2   # imports torch when called
    from segkit_torch.testing import BuildOnce, link                      # random-weight checkpoints in tests

``runtime`` (device, dtype, TF32, inference context, memory) and ``compile`` import torch: the base class
uses them in ``load``. See README.md for each name.
"""

from segkit_torch.masks import best_per_box
from segkit_torch.options import DEVICE_HELP, DTYPE_HELP, DeviceOptions, DtypeName, SamOptions, TorchOptions, check_device
from segkit_torch.segmenter import CheckpointError, TorchBackend, TorchConceptSegmenter, TorchSegmenter
from segkit_torch.upstream import package_version, warnings_logged

__version__ = "0.1.0"
__all__ = [
    "DEVICE_HELP",
    "DTYPE_HELP",
    "CheckpointError",
    "DeviceOptions",
    "DtypeName",
    "SamOptions",
    "TorchBackend",
    "TorchConceptSegmenter",
    "TorchOptions",
    "TorchSegmenter",
    "best_per_box",
    "check_device",
    "package_version",
    "warnings_logged",
]
