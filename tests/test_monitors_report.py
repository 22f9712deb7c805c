"""Evidently reports rendered from the bounded samples, and the package's boundaries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import monitors
from monitors import (
    MonitorError,
    build_baseline,
    compare,
    merge,
    render_report,
    summarize,
)
from monitors.report import reference_frame, window_frame

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "amount": rng.normal(shift, 1, n), "steps": rng.integers(0, 3, n).astype(float),
        "segment": rng.choice(["x", "y", "z"], n), "member": rng.random(n) < 0.3,
    })


KINDS = {"amount": "number", "steps": "number", "segment": "string", "member": "bool"}


@pytest.fixture(scope="module")
def drifted():
    reference = frame(900, 1)
    baseline = build_baseline(reference, KINDS, predictions=(reference["amount"] > 0).tolist())
    current = frame(3000, 2, shift=1.0)
    predictions = (current["amount"] > 0).tolist()
    window = merge(summarize(current.iloc[i:i + 500], baseline, predictions[i:i + 500], seed=i) for i in range(0, 3000, 500))
    return baseline, window, compare(window, baseline)


def test_frames_of_the_samples(drifted):
    baseline, window, _ = drifted
    reference, current = reference_frame(baseline), window_frame(window, baseline)
    assert list(reference.columns) == list(current.columns) == ["amount", "member", "segment", "steps", "prediction"]
    assert len(reference) == 900 and 0 < len(current) == len(window.sample.rows) <= 1000


def test_html_and_json_reports_use_the_decisions_methods(drifted, tmp_path):
    baseline, window, report = drifted
    html = render_report(baseline, window, tmp_path / "report.html", drift_report=report)
    assert html.stat().st_size > 10_000 and "<html" in html.read_text()[:2000].lower()
    data = json.loads(render_report(baseline, window, tmp_path / "report.json", fmt="json", drift_report=report).read_text())
    names = " ".join(metric.get("metric_name", "") for metric in data.get("metrics", []))
    chosen = list(report.features.columns.values()) + list(report.predictions.columns.values())
    for column in chosen:
        assert f"column={column.column},method={column.method}," in names, column


def test_bad_requests_are_refused(drifted, tmp_path):
    baseline, window, _ = drifted
    with pytest.raises(ValueError, match="fmt"):
        render_report(baseline, window, tmp_path / "r.pdf", fmt="pdf")
    empty = summarize(frame(10, 3), baseline, [True] * 10, sample_rate=0.0, seed=0)
    with pytest.raises(MonitorError, match="empty"):
        render_report(baseline, empty, tmp_path / "r.html")


def test_the_package_never_imports_the_stream_or_evidently_on_import():
    code = (
        "import sys, monitors; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'stream', 'faust', 'aiokafka', 'kafka', 'redis', 'evidently'}); "
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(monitors.__file__).parents[1])
    assert result.stdout.strip() == "[]"
    sources = "\n".join(p.read_text() for p in Path(monitors.__file__).parent.rglob("*.py"))
    for forbidden in ("import stream", "from stream", "faust", "aiokafka", "import redis"):
        assert forbidden not in sources


def test_public_surface():
    assert sorted(monitors.__all__) == sorted(set(monitors.__all__))
    for name in monitors.__all__:
        assert hasattr(monitors, name), name
