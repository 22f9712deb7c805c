"""The demo's webhook receiver: verifies each alert and says when it is about an earlier run's model."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from stream.alerts.config import new_secret
from stream.alerts.payloads import alert_body, decode_secret, headers
from stream.dev.demo import start_receiver


def post(receiver, secret: str, record: dict, msg_id: str) -> int:
    body = alert_body(record, 1, record["id"], record["id"])
    request = urllib.request.Request(receiver.url("/driftline"), data=body, method="POST",
                                     headers=headers(msg_id, body, decode_secret(secret)))
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_alerts_about_versions_of_earlier_runs_say_so_and_the_others_do_not():
    lines: list[str] = []
    receiver = start_receiver(lines.append, earlier=frozenset({("agrawal-2", 1), ("phishing", 5)}))
    try:
        drift = {"kind": "prediction_drift", "n_drifted": 1, "n_columns": 2, "drifted_columns": ["proba"], "ts": 1e9}
        assert post(receiver, receiver.secret, dict(drift, id="a", model="agrawal-2", version=1), "msg_a") == 204
        assert post(receiver, receiver.secret, dict(drift, id="b", model="phishing", version=6), "msg_b") == 204
        with pytest.raises(urllib.error.HTTPError, match="401"):  # signed with another secret
            post(receiver, new_secret(), dict(drift, id="c", model="phishing", version=6), "msg_c")
    finally:
        receiver.stop()
    earlier, current, rejected = lines
    assert "agrawal-2 v1 prediction_drift" in earlier and "an earlier demo run" in earlier
    assert "phishing v6 prediction_drift" in current and "earlier" not in current  # this run's version
    assert "REJECTED" in rejected
    assert [a["data"]["model"] for a in receiver.received] == ["agrawal-2", "phishing"]
