"""How ``engine.train`` sorts an attempt that raised, and what it clears before deciding.

Apart from the attempt because they look at errors, not at training: a CUDA out-of-memory error is retried
with half the micro-batch, a full disk (however it surfaces) becomes one line naming the fix, anything
else is a bug and propagates. Either way the staged checkpoint and final/ the attempt was writing go first.
"""

from __future__ import annotations

import errno
import shutil

from . import checkpoints
from .final_model import FINAL_STAGING


def is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(err)


def is_disk_full(err: BaseException | None) -> bool:
    """ENOSPC however it surfaces: OSError, torch.save's RuntimeError, safetensors' StorageFull."""
    seen = 0
    while err is not None and seen < 5:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        text = str(err)
        if "No space left on device" in text or "StorageFull" in text or "file write failed" in text:
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def clean_partial_writes(paths) -> None:
    checkpoints.clear_staging(paths.checkpoints)
    shutil.rmtree(paths.root / FINAL_STAGING, ignore_errors=True)
