"""How fast a model's labeled examples arrive: what a retrained challenger will have to learn.

A candidate that learns slower than its examples arrive can never keep up: in shadow, and after
its promotion, its learner (and with it the champion's, the concept detector and the snapshots
the scorers follow) falls further behind with every second. The controller compares each
candidate's learning cost with this rate (``DRIFTLINE_RETRAIN_MAX_LEARN_SHARE``).

The meter keeps a sample (time, examples so far) about once a second and measures over roughly
the last ``span`` seconds, so a burst long past does not count and a pause lowers the rate:

>>> meter = RateMeter(span=10.0)
>>> meter.rate(0.0) is None  # nothing measured yet
True
>>> for second in range(1, 21):
...     meter.add(500, now=float(second))  # 500 examples a second for 20 s
>>> meter.rate(20.0)
500.0
>>> meter.add(0, now=25.0)  # five seconds without an example: half the last ten
>>> meter.rate(25.0)
250.0
"""

from __future__ import annotations

import time
from collections import deque


class RateMeter:
    """Examples per second over about the last ``span`` seconds."""

    def __init__(self, span: float = 30.0, resolution: float = 1.0):
        self.span, self.resolution = span, resolution
        self.total = 0
        self.samples: deque[tuple[float, int]] = deque()  # (time, total then), oldest first

    def add(self, n: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not self.samples:
            self.samples.append((now, self.total))  # the start: examples from here on are measured
        self.total += n
        if now - self.samples[-1][0] >= self.resolution:
            self.samples.append((now, self.total))
        # The oldest sample is the start of the measurement: keep the newest one that is at least a span old.
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.span:
            self.samples.popleft()

    def rate(self, now: float | None = None) -> float | None:
        """Examples per second since the oldest sample kept; None before a second was measured."""
        now = time.monotonic() if now is None else now
        if not self.samples or now - self.samples[0][0] < self.resolution:
            return None
        started, total_then = self.samples[0]
        return (self.total - total_then) / (now - started)
