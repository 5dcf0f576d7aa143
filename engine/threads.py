"""Torch intra-op threads for one thread only (the chat's generation while a training runs in the process).

``torch.set_num_threads`` is not per thread: it sets the caller's OpenMP and MKL counts but also torch's
process-wide value, which every thread takes on its first parallel op. So a chat that called it changed
the thread count of a training started afterwards, or run later on the same reused worker thread
(measured: a thread started after the call ran on 1 thread). Here the per-thread settings alone change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable


def use_threads_in_this_thread(num_threads: int) -> bool:
    """Give the calling thread ``num_threads`` intra-op threads without changing any other thread's.

    Not ``torch.set_num_threads``: besides the caller's OpenMP and MKL counts it sets torch's
    process-wide value, which every thread takes on its first parallel op (a training started later, a
    reused worker thread would then run on one thread). Here only the per-thread settings change:
    OpenMP's ``omp_set_num_threads`` (the calling thread's ICV, which torch's parallel_for and oneDNN
    follow) and MKL's per-thread count. Returns False, changing nothing, where those entry
    points are not found (a torch build without the bundled libgomp).
    """
    import torch

    torch.get_num_threads()  # this thread's first call settles its count from the process-wide value
    setters = _thread_local_setters()
    if not setters:
        return False
    for set_threads in setters:
        set_threads(int(num_threads))
    return True


@functools.lru_cache(maxsize=1)
def _thread_local_setters() -> tuple[Callable[[int], object], ...]:
    """Per-thread setters as ctypes functions taking the count: OpenMP's ``omp_set_num_threads`` (torch's
    bundled libgomp) and MKL's ``mkl_set_num_threads_local_`` (linked into libtorch_cpu; the trailing
    underscore is the Fortran-style entry, which takes its argument by reference). () when not found."""
    import ctypes
    import os

    import torch

    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    try:
        omp = ctypes.CDLL(os.path.join(lib, "libgomp.so.1")).omp_set_num_threads  # already loaded: the same instance
    except (OSError, AttributeError):
        return ()  # without OpenMP's own setter there is no per-thread count to set
    omp.argtypes, omp.restype = [ctypes.c_int], None
    setters: list[Callable[[int], object]] = [omp]
    try:
        mkl = ctypes.CDLL(os.path.join(lib, "libtorch_cpu.so")).mkl_set_num_threads_local_
    except (OSError, AttributeError):
        return tuple(setters)  # no MKL: OpenMP's count is all there is
    mkl.argtypes, mkl.restype = [ctypes.POINTER(ctypes.c_int)], ctypes.c_int
    setters.append(lambda n: mkl(ctypes.byref(ctypes.c_int(n))))
    return tuple(setters)
