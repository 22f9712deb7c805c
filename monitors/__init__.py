"""Driftline's monitoring library: baselines, mergeable window summaries, drift methods and verdicts,
concept-drift detectors and Evidently reports.

Works on numpy arrays, dicts and DataFrames, offline; it never imports ``stream``, Faust, Kafka
or Redis. The stream uses it in four steps:

1. at export, :func:`build_baseline` from the training rows and the model's predictions on them
   (``baseline.to_dict()`` goes into the artifact);
2. per scored batch, :func:`summarize` → ``summary.to_json()`` onto Kafka;
3. in the model's monitor, :class:`DriftWindow` (or :func:`merge`) combines summaries into a
   window, and :func:`compare` judges it: data drift and prediction drift;
4. in the learner, a :class:`ConceptDriftMonitor` watches the champion's per-example errors;
5. in shadow, a :class:`McNemarTest` (or, for regressors, a :class:`PairedLossTest`) decides
   whether a challenger beats the champion.

>>> rows = [{"x": float(i % 50), "c": "abc"[i % 3]} for i in range(3000)]
>>> baseline = build_baseline(rows, {"x": "number", "c": "string"}, predictions=[i % 2 for i in range(3000)],
...                           prediction_kinds={"prediction": "category"})
>>> batches = [summarize(rows[i:i + 500], baseline, predictions=[1] * 500, seed=i) for i in range(0, 3000, 500)]
>>> report = compare(merge(batches), baseline)
>>> report.features.drifted, report.predictions.drifted, report.predictions.drifted_columns
(False, True, ['prediction'])
"""

from .baseline import Baseline, ColumnBaseline, build_baseline
from .detectors import DETECTORS, ConceptDriftMonitor, make_detector
from .exceptions import DataError, IncompatibleError, MonitorError, UnknownNameError
from .methods import METHODS, DriftMethod, default_method_name, get_method
from .promotion import McNemarTest, PairedLossTest, mcnemar_log_e_value, paired_test
from .report import render_report
from .summary import RowSample, Summary, merge, summarize
from .verdicts import ColumnDrift, DriftConfig, DriftReport, GroupDrift, compare
from .window import DEFAULT_WINDOW_SIZE, DriftWindow

__all__ = [
    "DEFAULT_WINDOW_SIZE",
    "DETECTORS",
    "METHODS",
    "Baseline",
    "ColumnBaseline",
    "ColumnDrift",
    "ConceptDriftMonitor",
    "DataError",
    "DriftConfig",
    "DriftMethod",
    "DriftReport",
    "DriftWindow",
    "GroupDrift",
    "IncompatibleError",
    "McNemarTest",
    "paired_test",
    "MonitorError",
    "PairedLossTest",
    "RowSample",
    "Summary",
    "UnknownNameError",
    "build_baseline",
    "compare",
    "default_method_name",
    "get_method",
    "make_detector",
    "mcnemar_log_e_value",
    "merge",
    "render_report",
    "summarize",
]
