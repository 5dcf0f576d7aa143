"""Device choice CUDA > MPS > CPU and each device's precision rules, by faking what torch reports (the
MPS path has not run on a real Mac here; the README says so)."""

from __future__ import annotations

import pytest
import torch

from tweetsmith.engine.device import DevicePlan, best_device, pick_device
from tweetsmith.engine.errors import ConfigError
from tweetsmith.engine.precision import choose_precision


def fake(monkeypatch, *, cuda: bool, mps: bool, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    "cuda,mps,bf16,expected",
    [
        (True, True, True, DevicePlan("cuda", "bfloat16")),  # CUDA wins over MPS
        (True, False, False, DevicePlan("cuda", "float16")),  # a GPU without bf16
        (False, True, True, DevicePlan("mps", "float32")),  # Apple silicon: fp32
        (False, False, True, DevicePlan("cpu", "float32")),
    ],
)
def test_the_best_device_and_its_dtype(monkeypatch, cuda, mps, bf16, expected):
    fake(monkeypatch, cuda=cuda, mps=mps, bf16=bf16)
    assert pick_device() == expected and best_device() == expected.device


def test_training_on_mps_is_fp32_and_refuses_what_it_cannot_do(monkeypatch):
    fake(monkeypatch, cuda=False, mps=True)
    assert choose_precision("auto", "mps", False) == "fp32" and choose_precision("fp32", "mps", False) == "fp32"
    for requested in ("bf16", "fp16"):
        with pytest.raises(ConfigError, match=f"--precision {requested} is not supported on Apple silicon"):
            choose_precision(requested, "mps", False)
    with pytest.raises(ConfigError, match="--quantize needs a CUDA GPU"):
        choose_precision("auto", "mps", True)


def test_a_training_picks_mps_when_there_is_no_cuda(monkeypatch):
    from tweetsmith.engine.train_run import TrainAttempt

    fake(monkeypatch, cuda=False, mps=True)
    attempt = TrainAttempt.__new__(TrainAttempt)  # only its device choice is exercised
    attempt.procs = type("Procs", (), {"world_size": 1, "local_rank": 0})()
    assert attempt.pick_device() == "mps"
    fake(monkeypatch, cuda=False, mps=False)
    assert attempt.pick_device() == "cpu"
