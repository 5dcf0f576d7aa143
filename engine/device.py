"""Device and dtype choice: CUDA > Apple silicon (MPS) > CPU.

- CUDA: bf16 where the GPU has it, else fp16 (mixed precision with fp32 master weights when training).
- MPS (a MacBook's GPU): fp32. Its bf16 needs macOS 14 and not every kernel has it, and fp16 training
  on MPS has no loss scaler that PyTorch supports, so fp32 is the one precision that trains everywhere;
  bitsandbytes' 4/8-bit kernels do not run there.
- CPU: fp32 weights; training measures whether bf16 autocast is faster on this CPU (``engine.precision``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda", "mps" or "cpu"
    dtype_name: str  # "bfloat16", "float16" or "float32"

    @property
    def dtype(self):
        import torch

        return getattr(torch, self.dtype_name)


def pick_device(device: str | None = None) -> DevicePlan:
    """The best device present (or the one asked for) and the dtype to load models in."""
    import torch

    if device is None:
        device = best_device()
    if device.startswith("cuda"):
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return DevicePlan(device, dtype)
    return DevicePlan(device, "float32")


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def best_device() -> str:
    """``cuda`` when a CUDA GPU is present, else ``mps`` on Apple silicon, else ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "mps" if mps_available() else "cpu"
