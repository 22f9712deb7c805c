"""Processes a worker spawns (the retraining and report-rendering pools) end with it.

A worker killed with SIGKILL cannot shut its pools down, and a pool's process, adopted by init,
would live on with what it holds (a forest being trained, an Evidently report being rendered: a
few hundred MB each). :func:`exit_with_parent`, as the pool's initializer, watches for that.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent_pid: int, every: float = 1.0) -> None:
    """End this process once ``parent_pid`` is no longer its parent (it died: init adopted us)."""

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
