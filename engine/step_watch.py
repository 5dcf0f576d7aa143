"""Watching inside an optimizer step: stop within a layer's time, and a heartbeat while a slow step runs.

On a CPU one optimizer step of 8 x 256 tokens takes ~10-20 s, so a stop flag checked between steps (or
micro-batches) answers late and a progress line that moves per step looks dead. ``StepWatch`` hangs a
forward pre-hook on every transformer layer and on the output head, and from each layer's forward
output a gradient hook, so the same check runs many times in the forward and the backward pass:

- if the caller's cancel event is set, it raises ``StepCancelled``; the training code catches it, drops
  the half-accumulated gradients and saves the last *completed* optimizer step (weights, optimizer and
  RNG untouched by the abandoned step), so ``--resume`` continues exactly;
- at most every ``heartbeat_s`` it reports how far the running step is (layers passed; the backward pass
  counts twice the forward, the usual 1:2 cost ratio) to ``on_heartbeat``.

Only while the model is in training mode: evaluation forwards are watched for the stop flag but report
no step progress (the evaluation reports its own progress).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

FORWARD_SHARE = 1 / 3  # of a micro-batch's time; backward takes the other two thirds
HEARTBEAT_S = 1.0  # at most one heartbeat a second: the line moves, the event loop is not flooded


class StepCancelled(Exception):
    """Raised inside the forward or backward pass when the cancel event is set."""


def transformer_layers(model) -> list:
    """The repeated blocks of a causal LM (Llama's ``model.layers``, GPT-2's ``transformer.h``): the
    longest ``ModuleList`` in the model, which for every architecture we train is the layer stack."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        return []
    longest: torch.nn.ModuleList = max(lists, key=len)
    return list(longest)


class StepWatch:
    """Hooks that check ``cancel`` and send heartbeats; ``micro_batch`` is advanced by the trainer."""

    def __init__(
        self,
        model,
        *,
        cancel: threading.Event | None,
        on_heartbeat: Callable[[float, int], None] | None,
        grad_accum: int,
        heartbeat_s: float | None = None,
        raise_on_cancel: bool = True,
    ):
        self.cancel = cancel
        self.on_heartbeat = on_heartbeat
        self.grad_accum = max(grad_accum, 1)
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.raise_on_cancel = raise_on_cancel
        self.micro_batch = 0  # 0-based index of the running micro-batch within the optimizer step
        self._last_beat = time.monotonic()
        self._handles = []
        layers = transformer_layers(model)
        self.n_layers = max(len(layers), 1)
        for index, layer in enumerate(layers):
            self._handles.append(layer.register_forward_pre_hook(self._forward_pre_hook(index)))
            self._handles.append(layer.register_forward_hook(self._forward_hook(index)))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def check(self, fraction_of_micro_batch: float | None = None) -> None:
        """Raise if cancelled; send a heartbeat if one is due (``None``: evaluation, no step progress)."""
        if self.raise_on_cancel and self.cancel is not None and self.cancel.is_set():
            raise StepCancelled()
        if fraction_of_micro_batch is None or self.on_heartbeat is None:
            return
        now = time.monotonic()
        if now - self._last_beat < self.heartbeat_s:
            return
        self._last_beat = now
        done = (self.micro_batch + min(max(fraction_of_micro_batch, 0.0), 1.0)) / self.grad_accum
        self.on_heartbeat(min(done, 0.999), self.micro_batch + 1)

    def _forward_pre_hook(self, index: int):
        def hook(module, args):
            self.check(FORWARD_SHARE * index / self.n_layers if module.training else None)

        return hook

    def _forward_hook(self, index: int):
        import torch

        def on_grad(grad):
            # Layers are passed backwards in reverse order: layer ``index`` is reached after
            # ``n_layers - 1 - index`` of them.
            self.check(FORWARD_SHARE + (1 - FORWARD_SHARE) * (self.n_layers - 1 - index) / self.n_layers)
            return grad

        def hook(module, args, output):
            if not module.training or not torch.is_grad_enabled():
                return output
            hidden = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(hidden, torch.Tensor) and hidden.requires_grad:
                hidden.register_hook(on_grad)
            return output

        return hook
