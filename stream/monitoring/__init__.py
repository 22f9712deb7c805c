"""Drift monitoring in the stream: batch summaries on the score path, one monitor per model that
closes windows and judges them against the baseline, the drift store, and Evidently reports.

May import ``stream.model``, ``stream.wire``, ``stream.transport``, ``stream.registry``,
``stream.serving`` (the loaded baselines), ``stream.training`` (baseline columns) and ``monitors``
(the statistics, which know nothing of Kafka).
"""

from .monitor import BaselineLookup, DriftMonitor
from .reports import ReportRenderer
from .store import DriftStore
from .summaries import BatchSummarizer, drift_config, settings_drift_config

__all__ = ["BaselineLookup", "BatchSummarizer", "DriftMonitor", "DriftStore", "ReportRenderer", "drift_config",
           "settings_drift_config"]
