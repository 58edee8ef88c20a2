"""The project's one performance workaround outside ordinary PyTorch: a malloc setting.

Kept because it pays at cohort scale on CPU: the model's input is a fixed-size crop, so the
saving below holds for HD recordings as for the demo's. glibc hands large blocks (the model's activations, 0.1-32 MiB) straight back to the kernel
when torch frees them, so the next batch page-faults the same memory in again: about 1,100
faults per batch of 16 windows (dearer in a virtual machine), a fifth of the demo model's
inference time on a 2-core VM. Keeping freed memory in the process costs nothing but a
resident size that stays at the peak of one batch; with it the demo model infers 190
instead of 155 windows/s there. Training leaves glibc's default: a demo epoch takes the
same time either way, within the machine's noise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_MAX = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit systems
_TRIM = 1 << 30
_done = False


def retain_freed_memory() -> bool:
    """Serve blocks up to 32 MiB from the heap and keep freed heap memory (glibc only).

    Returns whether the setting took effect; elsewhere (macOS, musl) it does nothing.
    Idempotent; a forked loader process inherits it.
    """
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                         _TRIM))
    if not _done:
        log.debug("mallopt refused; freed memory goes back to the kernel as before")
    return _done
