"""Messages about libraries' own code do not reach the user (engine/__init__.py)."""

from __future__ import annotations

import logging
import subprocess
import sys


def test_bitsandbytes_does_not_ask_for_a_hub_kernel():
    """On a CPU with avx512_bf16, importing bitsandbytes (peft does) warns that it could not download an
    optional 4-bit kernel and asks to ``pip install kernels``; the engine keeps that logger to errors."""
    import tweetsmith.engine  # noqa: F401

    assert not logging.getLogger("bitsandbytes.backends.cpu.ops").isEnabledFor(logging.WARNING)
    code = (
        "import io, logging; buf = io.StringIO(); logging.basicConfig(stream=buf, level=logging.WARNING); "
        "import tweetsmith.engine, bitsandbytes, peft; print(repr(buf.getvalue()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "kernels" not in out.stdout + out.stderr
