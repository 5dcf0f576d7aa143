"""final/: the model a run leaves behind, written once when training ends.

Its own module because it is the one place that replaces a run's result: the best checkpoint's weights
when evaluation ran (``best_checkpoint``), saved as the adapter, the full model, or with ``merge`` the LoRA
merged into its base, staged in ``RUN/.final.incomplete`` and renamed into place, so final/ is never half
written (``train_failures.clean_partial_writes`` clears a staging an error left).
"""

from __future__ import annotations

import shutil

from . import checkpoints

FINAL_STAGING = ".final.incomplete"


def best_checkpoint(trainer) -> checkpoints.Checkpoint | None:
    """The complete checkpoint of the best valid perplexity the trainer tracked (None when no evaluation ran)."""
    if trainer.best_step is None:
        return None
    found = [c for c in checkpoints.list_checkpoints(trainer.checkpoints_dir) if c.step == trainer.best_step]
    return found[0] if found else checkpoints.best(trainer.checkpoints_dir)


def save_final(model, loaded, config, method: str, paths) -> None:
    """final/: the adapter (plus tokenizer), the full model, or with ``merge`` the merged full model; swapped in atomically."""
    staged = paths.root / FINAL_STAGING
    shutil.rmtree(staged, ignore_errors=True)
    if method != "full" and config.merge:
        model = _merged(model, loaded, config, method, paths)
    model.save_pretrained(staged)
    loaded.tokenizer.save_pretrained(staged)
    if paths.final.exists():
        old = paths.root / ".final.old"
        shutil.rmtree(old, ignore_errors=True)
        paths.final.rename(old)
        staged.rename(paths.final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(paths.final)


def _merged(model, loaded, config, method: str, paths):
    """LoRA merged into the base; a quantized base is reloaded in full precision first (merging into 4-bit loses the update)."""
    if method == "lora":
        return model.merge_and_unload()
    from peft import PeftModel

    from .models import load_model

    adapter_dir = paths.root / ".adapter.incomplete"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(adapter_dir)
    base = load_model(loaded.info.spec, allow_fallback=config.allow_fallback, dtype="float32", device="cpu").model
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    shutil.rmtree(adapter_dir, ignore_errors=True)
    return merged
