"""Device and dtype choice: CUDA with bf16 where supported (else fp16), else CPU fp32."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda" or "cpu"
    dtype_name: str  # "bfloat16", "float16" or "float32"

    @property
    def dtype(self):
        import torch

        return getattr(torch, self.dtype_name)


def pick_device(device: str | None = None) -> DevicePlan:
    """The best device present (or the one asked for) and the dtype to load models in."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return DevicePlan(device, dtype)
    return DevicePlan(device, "float32")
