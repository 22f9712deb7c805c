"""A worker's resident memory: large buffers go back to the system when they are freed.

glibc serves an allocation of 128 KiB or more with a mapping of its own and unmaps it when it is
freed, but the first time it frees such a block it raises that threshold to the block's size (up
to 32 MiB). From then on blocks of that size (fetch responses, produce batches, snapshots) come
from the heap of the allocating thread's arena, which keeps the space they leave between
longer-lived blocks. Such growth does not come back: in a 1,000,000-event soak
(``benchmarks/soak.py``) the worker's anonymous memory outside Python's own allocator grew by
24 MiB within half a minute, 630 s in, with the worker a few thousand events behind, while
Python's arenas and Faust's queues stayed flat; the worker's RSS ended 16% above its first warm
sample, against 7% with the threshold fixed.

:func:`fix_mmap_threshold` sets the threshold once (``mallopt(M_MMAP_THRESHOLD)``), which also
turns the raising off, so such blocks are mapped and unmapped again each time.

>>> fix_mmap_threshold(128)
True
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def fix_mmap_threshold(kib: int) -> bool:
    """Serve allocations of ``kib`` KiB or more with mappings of their own, freed with them.

    False where the C library has no ``mallopt`` that accepts it (musl, macOS): nothing changes."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, kib * 1024) == 1
