"""Progress of a long command (training, replay, batch prediction) on stderr.

On a terminal one line is redrawn in place, at most five times a second. Anywhere else (a pipe,
a log file, CI) a carriage return does not redraw anything: every update would be kept, so one
plain line is written every ``log_every`` seconds, and the last one always.

>>> import io
>>> out = io.StringIO()
>>> line = ProgressWriter(out, log_every=3600)
>>> for done in range(1, 1001):
...     line.update(f"{done:,}/1,000", final=done == 1000)
>>> out.getvalue()
'1,000/1,000\\n'
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between redraws on a terminal.
TERMINAL_EVERY = 0.2


class ProgressWriter:
    def __init__(self, stream: TextIO | None = None, log_every: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = TERMINAL_EVERY if self.tty else log_every
        self.started = time.monotonic()
        self.last = self.started

    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def update(self, text: str, final: bool = False) -> None:
        """Show ``text`` if the last line is old enough (always when ``final``)."""
        now = time.monotonic()
        if not final and now - self.last < self.every:
            return
        self.last = now
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
