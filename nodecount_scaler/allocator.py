"""glibc's allocator set so that memory freed after a large object goes back to the system.

glibc serves an allocation above its mmap threshold (128 KiB) with a mapping of its own,
returned at once when freed, but it raises the threshold to the size of every such block
freed (up to 32 MiB): after the first 1.4 MB watch line, every later one comes from the
heap, where it stays as free space the process keeps. A target of a 1.4 MB Deployment
edited now and then grew the RSS that way and never gave it back. A fixed threshold
turns the dynamic one off (mallopt(3)); the cost is a mapping per large buffer (a watch
line or list page past 256 KiB), a few microseconds each.
"""

from __future__ import annotations

import ctypes
from typing import Final

M_TRIM_THRESHOLD: Final = -1
M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD: Final = 256 * 1024


def tune() -> bool:
    """Fix glibc's mmap threshold (and the trim threshold with it); False where the C
    library is not glibc (musl has no mallopt) and nothing was changed."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: the C library's
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD)
    )


def trim() -> bool:
    """Give the heap's free pages back to the system now (malloc_trim(3)); False without
    glibc."""
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    function.argtypes = (ctypes.c_size_t,)
    return bool(function(0))
