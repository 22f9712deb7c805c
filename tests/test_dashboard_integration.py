"""The dashboard, /metrics, the OpenAPI document and HTTP predict/labels, on the real stack: a
worker of its own (own consumer group and topics, an API token, small drift windows), checked
against what the topics hold, by schemathesis, and in headless Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from learning_helpers import KEY, read_topic
from prometheus_client.parser import text_string_to_metric_families
from test_drift_integration import agrawal, wait_until
from test_recovery_integration import own_group, start_worker

from stream.dev.demo import malformed_events
from stream.dev.outputs import OutputWatcher
from stream.dev.replay import make_producer, new_run_id, replay
from stream.model import artifact
from stream.training.trainer import train

pytestmark = pytest.mark.integration

TOKEN = "dash-token"
MODEL = "dash-agrawal"
CHROMIUM = "/usr/bin/chromium"
#: Where the browser test writes its screenshots (the README shows one of them).
SCREENSHOTS = Path(os.environ.get("DRIFTLINE_SCREENSHOTS", Path(__file__).parent.parent / "build" / "screenshots"))


class Dash:
    def __init__(self, settings, worker):
        self.settings, self.worker = settings, worker


@pytest.fixture(scope="module")
def dash(stack, stack_settings, registry, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    settings = own_group(stack_settings, tmp, "dash", api_token=TOKEN, drift_window_size=2000, drift_window_min_rows=500,
                         drift_window_seconds=3.0, deploy_policy="off")
    first = train(agrawal(3000, 0), "hoeffding-tree", MODEL, holdout=0.1)
    registry.register(artifact.dumps(first, KEY), first.metadata, alias="champion")
    second = train(agrawal(3000, 11), "hoeffding-tree", MODEL, holdout=0.1, seed=3)
    registry.register(artifact.dumps(second, KEY), second.metadata)  # a version to promote from the page
    worker = start_worker(settings, tmp, "dash")
    try:
        worker.wait_ready(240, models=[MODEL])
        yield Dash(settings, worker)
    finally:
        worker.stop()


def call(dash, method: str, path: str, body=None, token: str | None = None) -> tuple[int, dict | str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(dash.worker.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get_content_type()
    return status, json.loads(raw) if kind == "application/json" else raw.decode()


def metric_samples(dash) -> dict[str, list]:
    _, text = call(dash, "GET", "/metrics")
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_metrics_count_what_the_topics_hold(dash):
    settings = dash.settings
    data = agrawal(1500, 5)
    run_id = new_run_id()
    watcher = OutputWatcher(settings, run_id)
    producer = make_producer(settings)
    bad = malformed_events(data.rows[0])
    for i, raw in enumerate(bad):
        producer.send(settings.topic("events"), key=f"{run_id}-bad-{i}".encode(), value=raw)
    replay(settings, data.rows, None, MODEL, run_id=run_id, producer=producer)
    producer.close()
    try:
        assert watcher.wait_for(len(data.rows) + len(bad), 120), f"{watcher.total} outputs"
    finally:
        watcher.close()
    predictions = Counter((json.loads(m.value)["model"], str(json.loads(m.value)["version"])) for m in read_topic(settings, "predictions"))
    deadletters = Counter(json.loads(m.value)["reason"] for m in read_topic(settings, "deadletter"))
    assert len(deadletters) >= 3  # several reasons

    def counted():
        samples = metric_samples(dash)
        made = {(s.labels["model"], s.labels["version"]): s.value for s in samples["driftline_predictions"] if s.name.endswith("_total")}
        rejected = {s.labels["reason"]: s.value for s in samples["driftline_deadletters"] if s.name.endswith("_total")}
        return made == dict(predictions) and rejected == dict(deadletters), (made, rejected)

    wait_until(lambda: counted()[0], 30, f"metrics equal to the topics {dict(predictions)}, {dict(deadletters)}: {counted()[1]}")
    samples = metric_samples(dash)
    events = {s.labels["topic"]: s.value for s in samples["driftline_events"] if s.name.endswith("_total")}
    assert events[settings.topic("events")] == sum(predictions.values()) + sum(deadletters.values())
    latency = {s.name: s.value for s in samples["driftline_scoring_latency_seconds"]}
    assert latency["driftline_scoring_latency_seconds_count"] == sum(predictions.values())
    info = {(s.labels["model"], s.labels["alias"], s.labels["version"]) for s in samples["driftline_model_info"]}
    assert (MODEL, "champion", "1") in info


def test_predict_without_an_id_gets_one_and_its_label_over_http_is_learned(dash, registry):
    x = agrawal(1, 9).rows[0]
    status, answer = call(dash, "POST", "/predict", {"model": MODEL, "features": x})
    assert status == 200 and len(answer["id"]) == 36 and answer["model"] == MODEL  # a UUID
    status, refused = call(dash, "POST", "/labels", {"id": answer["id"], "label": 1})
    assert status == 401 and refused["error"]["reason"] == "unauthorized"
    before = (registry.snapshot_info(MODEL) or {}).get("n_learned", 0)
    status, accepted = call(dash, "POST", "/labels", [{"id": answer["id"], "label": 1, "model": MODEL}, {"label": 1},
                                                      {"id": "other", "label": 5, "model": MODEL}], token=TOKEN)
    assert status == 202 and accepted["accepted"] == 1 and accepted["results"][1]["error"]["reason"] == "missing_id"
    # A class the model does not have is refused at once when the label names the model.
    assert accepted["results"][2]["error"]["reason"] == "invalid_label" and "classes" in accepted["results"][2]["error"]["detail"]
    wait_until(lambda: (registry.snapshot_info(MODEL) or {}).get("n_learned", 0) > before, 60, "the HTTP label learned")
    status, batch = call(dash, "POST", "/predict", [{"model": MODEL, "features": x}, {"id": "mine", "model": MODEL, "features": x}])
    assert status == 200 and batch["results"][1]["id"] == "mine" and len(batch["results"][0]["id"]) == 36
    # An event's own label teaches the served model as POST /labels does: the same token, or nothing is done.
    status, refused = call(dash, "POST", "/predict", [{"model": MODEL, "features": x}, {"model": MODEL, "features": x, "label": 1}])
    assert status == 401 and "'label'" in refused["error"]["detail"]
    learned = registry.snapshot_info(MODEL)["n_learned"]
    status, answer = call(dash, "POST", "/predict", {"model": MODEL, "features": x, "label": 1}, token=TOKEN)
    assert status == 200 and answer["model"] == MODEL
    wait_until(lambda: registry.snapshot_info(MODEL)["n_learned"] > learned, 60, "the label of an event posted with the token learned")


def test_schemathesis_finds_no_server_error_no_response_off_the_document_and_no_invalid_request_accepted(dash, tmp_path):
    status, document = call(dash, "GET", "/api/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    schemathesis = Path(sys.executable).parent / "schemathesis"
    # Negative data (a wrong type, a missing field, too many items) must be refused with a 4xx;
    # 413 is the answer to a list over its maxItems.
    (tmp_path / "schemathesis.toml").write_text(
        '[checks.negative_data_rejection]\nexpected-statuses = ["400", "401", "403", "404", "405", "413", "415", "422"]\n')
    run = subprocess.run(
        [str(schemathesis), "run", dash.worker.url + "/api/openapi.json", "--checks", "not_a_server_error,response_schema_conformance,negative_data_rejection",
         "--max-examples", "15", "--generation-deterministic", "--request-timeout", "60", "-H", f"Authorization: Bearer {TOKEN}",
         "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)  # its example database stays out of the repo
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_the_dashboard_in_chromium_shows_the_model_live_the_drift_and_its_actions(dash, registry):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (make test installs it with apt-get as root)")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    settings = dash.settings
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            problems = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(dash.worker.url + "/")
            page.wait_for_selector(f'.model[data-model="{MODEL}"] h2', timeout=30_000)
            # Live throughput while a stream runs, and the shift in two features, judged in windows.
            before, after = agrawal(2500, 21), agrawal(6000, 22, shifted=True)
            replay(settings, before.rows + after.rows, before.targets + after.targets, MODEL, rate=1500, label_delay=200,
                   run_id=new_run_id())
            page.wait_for_function("() => Number(document.getElementById('throughput').textContent) > 0", timeout=60_000)
            ratio = """() => {
                const h = document.getElementById('heatmap-%s');
                if (!h || !h.data) return null;
                const y = h.data[0].y, z = h.data[0].z, row = y.indexOf('salary');
                return row < 0 ? null : z[row][z[row].length - 1];
            }""" % MODEL
            page.wait_for_function(f"() => ({ratio})() > 1", timeout=120_000)
            assert page.evaluate(ratio) > 1  # the shifted feature's latest cell is past its threshold
            untouched = page.evaluate(ratio.replace("'salary'", "'car'"))
            assert untouched is not None and untouched < 1
            page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
            assert problems == [], problems  # loaded and updated with no console error

            card = page.locator(f'.model[data-model="{MODEL}"]')
            card.locator(".promote-version").fill("2")
            card.locator("button.promote").click()
            page.wait_for_function(f"() => document.querySelector('.model[data-model=\"{MODEL}\"] .result').dataset.status === '401'")
            assert registry.aliases(MODEL)["champion"] == 1
            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            card.locator("button.promote").click()
            page.wait_for_function(f"() => document.querySelector('.model[data-model=\"{MODEL}\"] .result').dataset.status === '200'",
                                   timeout=60_000)
            assert registry.aliases(MODEL)["champion"] == 2
            page.wait_for_function(f"() => document.querySelector('.model[data-model=\"{MODEL}\"] h2') && "
                                   f"document.querySelector('.model[data-model=\"{MODEL}\"] .facts').textContent.includes('v2')",
                                   timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / "dashboard-promoted.png"), full_page=True)
            # The browser logs the refused request (401) it was asked to make; nothing else.
            assert [p for p in problems if "401" not in p] == [], problems
        finally:
            browser.close()
    # The stream's labels were learned, and the snapshots that learned them were served.
    def learned_and_served():
        samples = metric_samples(dash)
        learned = {s.labels["model"]: s.value for s in samples["driftline_examples_learned"] if s.name.endswith("_total")}
        lag = {s.name: s.value for s in samples["driftline_adaptation_lag_seconds"]}
        return learned.get(MODEL, 0) >= 1000 and lag["driftline_adaptation_lag_seconds_count"] >= 1

    wait_until(learned_and_served, 120, "examples learned and an adaptation lag measured")
    collected = {s.labels["generation"] for s in metric_samples(dash)["driftline_gc_pause_seconds"] if s.name.endswith("_count") and s.value > 0}
    assert "0" in collected  # the worker's collections are timed
    scores = {s.labels["column"]: s.value for s in metric_samples(dash)["driftline_drift_score"] if s.labels["model"] == MODEL}
    assert {"salary", "age", "car"} <= set(scores) and scores["salary"] > scores["car"]
    if os.environ.get("DRIFTLINE_UPDATE_README_SCREENSHOT"):
        shutil.copy(SCREENSHOTS / "dashboard.png", Path(__file__).parent.parent / "docs" / "dashboard.png")


def test_a_baseline_is_replaced_over_http_from_the_latest_window_only_with_the_token(dash, registry):
    champion = registry.aliases(MODEL)["champion"]
    status, refused = call(dash, "POST", f"/api/models/{MODEL}/baseline", {"window": "latest"})
    assert status == 401 and refused["error"]["reason"] == "unauthorized"
    status, bad = call(dash, "POST", f"/api/models/{MODEL}/baseline", {"rows": "not rows"}, token=TOKEN)
    assert status == 400 and bad["error"]["reason"] == "invalid_field"

    def judged_against_champion():  # the latest window must be one of the champion's (after the promotion above)
        status, latest = call(dash, "GET", f"/api/drift/{MODEL}/windows/latest")
        return status == 200 and latest["version"] == champion

    replay(dash.settings, agrawal(1500, 31, shifted=True).rows, None, MODEL, run_id=new_run_id())
    wait_until(judged_against_champion, 120, "a window judged against the current champion")
    status, done = call(dash, "POST", f"/api/models/{MODEL}/baseline", {"window": "latest", "reason": "the shift is normal now"},
                        token=TOKEN)
    assert status == 200, done
    assert done["from_version"] == champion and done["rows"] >= 100 and registry.aliases(MODEL)["champion"] == done["version"]
    history = registry.history(MODEL)
    assert history[-1]["version"] == done["version"] and history[-1]["reason"] == "the shift is normal now"


def test_no_mutating_endpoint_takes_a_missing_or_wrong_token_and_no_answer_or_log_shows_a_secret(dash):
    from conftest import SIGNING_KEY

    _, document = call(dash, "GET", "/api/openapi.json")
    mutating = [(path.replace("{name}", MODEL), method.upper()) for path, operations in document["paths"].items()
                for method, operation in operations.items() if "security" in operation]
    assert len(mutating) >= 5
    for path, method in mutating:
        for token in (None, "wrong-token", TOKEN + "x"):
            status, answer = call(dash, method, path, {"version": 1, "id": "x", "label": 1}, token=token)
            assert status == 401 and answer["error"]["reason"] == "unauthorized", (path, token, status, answer)
    seen = [call(dash, "GET", path)[1] for path in ("/health", "/api/dashboard", "/api/models", f"/api/models/{MODEL}",
                                                     "/api/alerts", "/metrics", f"/api/drift/{MODEL}", "/api/openapi.json")]
    seen.append(call(dash, "POST", "/labels", {"id": "x", "label": 1}, token="wrong-token")[1])
    seen.append(dash.worker.log_path.read_text())
    text = "\n".join(json.dumps(s) if not isinstance(s, str) else s for s in seen)
    assert TOKEN not in text and SIGNING_KEY not in text


def test_a_snapshot_forged_without_the_signing_key_is_refused_by_the_scorers(dash, registry):
    champion = registry.aliases(MODEL)["champion"]
    wait_until(lambda: ((dash.worker.health() or {}).get("models") or {}).get(MODEL, {}).get("loaded_version") == champion, 60,
               "the worker serving the current champion")
    # The learner may still be learning the browser test's labels; a snapshot of its own published
    # right after the forged one would replace it before the worker looks. Wait until it rests.
    revisions = []

    def learner_at_rest():
        revisions.append((registry.snapshot_info(MODEL) or {}).get("revision"))
        return len(revisions) >= 4 and len(set(revisions[-4:])) == 1

    wait_until(learner_at_rest, 180, "the learner publishing no new snapshot for 1.5 s")
    forged = train(agrawal(500, 41), "hoeffding-tree", MODEL, holdout=0.1)
    info = dict(registry.snapshot_info(MODEL) or {}, n_learned=0)
    revision = registry.publish_snapshot(MODEL, "champion", champion, artifact.dumps(forged, b"not-the-key"), info)

    def refused():
        # Kept after the learner's next snapshot replaces the forged one (it keeps learning the
        # browser test's labels); the refresh's own load error shows only until then.
        served = ((dash.worker.health() or {}).get("models") or {}).get(MODEL, {})
        return ("signature" in str(served.get("error"))
                or (served.get("refused_snapshot") or {}).get("revision") == revision
                and "signature" in served["refused_snapshot"]["error"])

    wait_until(refused, 30, "the forged snapshot refused")
    status, answer = call(dash, "POST", "/predict", {"model": MODEL, "features": agrawal(1, 42).rows[0]})
    assert status == 200 and answer["snapshot"] != revision and answer["version"] == champion
