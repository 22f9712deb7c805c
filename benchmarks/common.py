"""What the benchmarks share: free loopback ports, River rows with string feature names, waiting
for a learner to catch up, and the temporary folders a run's workers keep their state in.

The benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is on their path.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, NoReturn

_state_folders: list[Path] = []


def state_folder(prefix: str) -> Path:
    """A new temporary folder for a run's state (worker logs, snapshots, Redis files), removed by
    :func:`run` when the benchmark passes: a continuous-deployment run leaves several hundred MB."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _state_folders.append(path)
    return path


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s code. The folders :func:`state_folder` made are removed when it
    returns 0, and kept (their paths printed) when it fails or raises: their logs say why."""
    code = 1
    try:
        code = main()
    finally:
        for path in _state_folders:
            if code == 0:
                shutil.rmtree(path, ignore_errors=True)
            else:
                print(f"worker logs and state kept in {path}", file=sys.stderr, flush=True)
        _state_folders.clear()
    sys.exit(code)


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
