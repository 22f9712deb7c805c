"""Garbage-collector pauses of a worker: freeze what start-up made, and measure what is left.

A full collection walks every tracked object. A worker starts with about 320,000 of them (Faust,
aiokafka, River, Evidently, numpy), and walking them took 70 to 140 ms on the 2-core machine:
each full collection stopped scoring for that long, a prediction's p99 latency in one pause.
:func:`freeze_start_up` moves them to the permanent generation once, as CPython's documentation
advises for a process that imports much and then runs long; full collections then walk only what
the worker made since (a full one with a 20,000-example retrain buffer: about 13 ms).
:func:`observe_pauses` times every collection into ``driftline_gc_pause_seconds{generation}``.

>>> import gc
>>> walked = len(gc.get_objects())  # what a full collection walks
>>> frozen = freeze_start_up()
>>> frozen > 0 and len(gc.get_objects()) < walked - frozen // 2
True
>>> gc.unfreeze()
>>> from prometheus_client import CollectorRegistry, Histogram
>>> pauses = Histogram("pauses", "", ["generation"], registry=CollectorRegistry())
>>> observe_pauses(pauses)
>>> _ = gc.collect(2)
>>> pauses.labels(generation="2")._sum.get() > 0
True
>>> gc.callbacks.remove(_on_collection)
"""

from __future__ import annotations

import gc
import time
from typing import Any

_histogram: Any = None
_started = 0.0


def freeze_start_up() -> int:
    """Collect once, then exempt every surviving object from later collections; how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def observe_pauses(histogram: Any) -> None:
    """Time each collection into ``histogram`` (labelled by generation)."""
    global _histogram
    _histogram = histogram
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)


def _on_collection(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    elif _histogram is not None:
        _histogram.labels(generation=str(info["generation"])).observe(time.perf_counter() - _started)
