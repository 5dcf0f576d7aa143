"""The Trainer callbacks that two flags add: ``--report-to tensorboard`` and ``--early-stopping N``.

- TensorBoard: transformers' own ``TensorBoardCallback``, pointed at ``RUN/tensorboard`` (not the
  Trainer's default under ``checkpoints/``), so ``tensorboard --logdir RUN`` shows ``train/loss``,
  ``train/learning_rate``, ``train/tokens_per_s`` (useful tokens, as in metrics.jsonl) and
  ``eval/valid_perplexity``. Imported only when asked for: nothing else needs the tensorboard package.
- Early stopping: transformers' ``EarlyStoppingCallback`` rule (stop after ``patience`` evaluations in a
  row that did not beat the best, threshold 0), applied to our valid perplexity. Its own callback cannot
  be used: it requires the Trainer's eval strategy and ``load_best_model_at_end``, while we evaluate on
  our own schedule (``train_loop.ControlCallback``) and keep the best checkpoint ourselves.
"""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

TENSORBOARD_DIR = "tensorboard"  # under the run directory


class EarlyStopping(TrainerCallback):
    """Stops training after ``patience`` evaluations in a row without a valid perplexity below the best.

    The best starts from the run's best checkpoint on a resume (``best``/``best_step``); the count of
    evaluations without improvement starts again at 0 there."""

    def __init__(self, patience: int, *, best: float | None = None, best_step: int | None = None):
        self.patience = patience
        self.best, self.best_step = best, best_step
        self.waited = 0  # evaluations since the last improvement
        self.reason: str | None = None  # set when it stopped the run

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        ppl = (metrics or {}).get("eval_valid_perplexity")
        if ppl is None:
            return control
        if self.best is None or ppl < self.best:
            self.best, self.best_step, self.waited = ppl, state.global_step, 0
            return control
        self.waited += 1
        if self.waited >= self.patience and state.global_step < state.max_steps:
            control.should_training_stop = True
            self.reason = (
                f"stopped early: valid perplexity did not improve for {self.patience} evaluations "
                f"(best {self.best:.2f} at step {self.best_step})"
            )
        return control


def tensorboard_callback(run_dir: Path):
    """transformers' TensorBoard logger writing into ``run_dir/tensorboard``."""
    from transformers.integrations import TensorBoardCallback

    callback = TensorBoardCallback()
    callback.logging_dir = str(run_dir / TENSORBOARD_DIR)  # read at train begin, when it opens its writer
    return callback


def extra_callbacks(config, run_dir: Path, *, is_main: bool, best: float | None, best_step: int | None) -> list:
    """The callbacks ``config`` asks for (TensorBoard on the main process only: one writer per run)."""
    callbacks: list = []
    if config.report_to == "tensorboard" and is_main:
        callbacks.append(tensorboard_callback(run_dir))
    if config.early_stopping:
        callbacks.append(EarlyStopping(config.early_stopping, best=best, best_step=best_step))
    return callbacks


def early_stop_reason(trainer) -> str | None:
    """Why the early-stopping callback stopped ``trainer`` (None when it did not)."""
    return next((c.reason for c in trainer.callback_handler.callbacks if isinstance(c, EarlyStopping)), None)
