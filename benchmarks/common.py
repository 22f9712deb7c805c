"""What the benchmarks share: free loopback ports and River rows with string feature names.

The benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is on their path.
"""

from __future__ import annotations

import socket


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
