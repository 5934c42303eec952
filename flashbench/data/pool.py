"""A process pool for the data commands (build, validate) whose workers never outlive their parent.

Linux forks the workers (no re-import of the caller's ``__main__``; they use numpy, PyAV and
pycocotools, never torch); elsewhere they are spawned. A parent killed with SIGKILL cannot
shut its pool down, so on Linux each worker asks the kernel for SIGTERM when its parent dies,
instead of sleeping forever on a dead queue.
"""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):  # no prctl: the worker merely lingers after a SIGKILL of its parent
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing

    if sys.platform.startswith("linux"):
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
