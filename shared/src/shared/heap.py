"""Giving back to the operating system the heap that start-up left free.

glibc's free() keeps freed memory inside the process for reuse and returns only the top
of the heap by itself. Loading an application (parsing modules, building tables, compiling
patterns) frees a great deal in the middle of the heap, and every such page stays resident
for as long as the process lives. malloc_trim(0) hands each wholly free page back, so a
process at rest holds what it uses. Where the C library is not glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import gc


def release_free_heap() -> bool:
    """Collect cyclic garbage, then return every free heap page; False where unsupported."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): nothing to call
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    gc.collect()
    malloc_trim(0)
    return True
