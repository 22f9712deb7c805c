"""What the benchmarks share: free loopback ports, River rows with string feature names, and
waiting for a learner to catch up.

The benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is on their path.
"""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def named(x: dict) -> dict:
    """River generators name some features by integers; events need strings.

    >>> named({0: 1.5, "age": 3})
    {'x0': 1.5, 'age': 3}
    """
    return {k if isinstance(k, str) else f"x{k}": v for k, v in x.items()}


def take(stream, n: int) -> tuple[list[dict], list]:
    """The first ``n`` rows (named as events need) and targets of a River stream."""
    rows, targets = [], []
    for x, y in stream.take(n):
        rows.append(named(x))
        targets.append(y)
    return rows, targets


def wait_learned(registry, name: str, n: int, timeout: float = 120.0) -> dict:
    """The champion learner's snapshot info once it holds ``n`` examples (AssertionError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    info = None
    while time.monotonic() < deadline:
        info = registry.snapshot_info(name)
        if info and info["n_learned"] >= n:
            return info
        time.sleep(0.5)
    raise AssertionError(f"{name}: learned {info and info['n_learned']} of {n} examples")
