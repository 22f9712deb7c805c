"""The worker's fixed mmap threshold: a large block freed after a lag does not make later blocks
of that size stay in the heap (``stream/malloc.py``).

Each case runs in a fresh interpreter, since glibc's threshold, once raised or fixed, stays so
for the process. What it counts is glibc's own: ``mallinfo2().hblks``, the blocks it mapped."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """
import ctypes, sys
from stream.malloc import fix_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(128)
lag = bytearray(8 * 2**20)  # a large fetch response while the worker was behind
del lag                      # freed: glibc raises its threshold to 8 MiB unless it was fixed
mapped = libc.mallinfo2().hblks
later = bytearray(2**20)     # a 1 MiB response afterwards
print(libc.mallinfo2().hblks - mapped)
"""


def newly_mapped_blocks(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_fixed_threshold_maps_large_blocks_after_a_larger_one_was_freed():
    assert newly_mapped_blocks("glibc-default") == 0  # the raised threshold: from the heap, kept there
    assert newly_mapped_blocks("fixed") == 1          # mapped, so freeing it returns it to the system
