"""Alerts: the alerts file, Standard Webhooks signatures (checked with the ``standardwebhooks``
package), the delivery queue in a real Redis, and senders against a real HTTP receiver."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import pytest
from alert_receiver import Receiver
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from stream.alerts.config import AlertsFile, load_alerts_file, new_secret, parse_alerts
from stream.alerts.delivery import Sender, session_holder
from stream.alerts.payloads import alert_body, delivery_id, headers
from stream.alerts.store import AlertStore
from stream.errors import ConfigError
from stream.registry.redis_client import async_redis_client

SECRET = new_secret()


def endpoint_config(**fields) -> dict:
    return {"endpoints": [dict({"name": "ops", "url": "http://127.0.0.1:1/hook", "secret": SECRET}, **fields)]}


# The alerts file -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    ({"url": "not a url"}, "endpoint 'ops': field 'url'"),
    ({"kinds": ["data_drift", "drift_data"]}, "endpoint 'ops': field 'kinds': unknown kind 'drift_data'"),
    ({"format": "xml"}, "endpoint 'ops': field 'format'"),
    ({"timeout": 0}, "endpoint 'ops': field 'timeout'"),
    ({"retry_schedule": []}, "endpoint 'ops': field 'retry_schedule'"),
    ({"retry_schedule": [0, -5]}, "endpoint 'ops': field 'retry_schedule'"),
    ({"secret": "plain-text"}, "endpoint 'ops': field 'secret': must be a string 'whsec_'"),
    ({"secret": "whsec_!!!"}, "endpoint 'ops': field 'secret': the part after 'whsec_' is not base64"),
    ({"models": []}, "endpoint 'ops': field 'models'"),
    ({"retries": 3}, "endpoint 'ops': field 'retries': unknown field"),
    ({"secret_env": "DRIFTLINE_TEST_UNSET_SECRET"}, "endpoint 'ops': field 'secret': give 'secret' or 'secret_env', not both"),
])
def test_a_bad_endpoint_is_refused_naming_the_endpoint_and_the_field(fields, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_alerts(endpoint_config(**fields), environ={})


def test_secret_env_slack_defaults_and_duplicate_names():
    config = {"endpoints": [{"name": "ops", "url": "https://hooks.example/x", "secret_env": "OPS_SECRET"}]}
    with pytest.raises(ConfigError, match="endpoint 'ops': field 'secret_env': the environment variable OPS_SECRET is not set"):
        parse_alerts(config, environ={})
    ops = parse_alerts(config, environ={"OPS_SECRET": SECRET}).endpoints["ops"]
    assert ops.secret is not None and ops.format == "json" and ops.timeout == 10.0 and ops.kinds is None
    assert "secret" not in json.dumps(ops.describe()).replace('"signed"', "")
    slack = parse_alerts({"endpoints": [{"name": "chat", "url": "https://hooks.slack.example/T/B/x", "format": "slack"}]})
    assert slack.endpoints["chat"].secret is None
    with pytest.raises(ConfigError, match="endpoint 'chat': field 'secret': a slack endpoint is not signed"):
        parse_alerts({"endpoints": [{"name": "chat", "url": "https://x.example/", "format": "slack", "secret": SECRET}]})
    with pytest.raises(ConfigError, match="endpoint 'ops': field 'name': used twice"):
        parse_alerts({"endpoints": endpoint_config()["endpoints"] * 2})


def test_yaml_by_suffix_and_a_changed_file_is_picked_up_unless_it_is_invalid(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(f"cooldown_seconds: 30\nendpoints:\n  - name: ops\n    url: http://127.0.0.1:1/a\n    secret: {SECRET}\n"
                    "    kinds: [feature_drift]\n")
    watched = AlertsFile(path)
    assert watched.config.cooldown_seconds == 30 and watched.config.endpoints["ops"].kinds == {"feature_drift"}
    assert watched.reload_if_changed() is None
    config = endpoint_config(url="http://127.0.0.1:1/b")
    path.write_text(json.dumps(config))  # JSON is YAML too
    assert watched.reload_if_changed() is True and watched.config.endpoints["ops"].url.endswith("/b")
    path.write_text("endpoints: [{name: ops}]")
    assert watched.reload_if_changed() is False and "field 'url'" in watched.error
    assert watched.config.endpoints["ops"].url.endswith("/b")  # the last valid endpoints stay
    bad = tmp_path / "alerts.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_alerts_file(bad)


# Signatures ------------------------------------------------------------------------------------


def test_the_standardwebhooks_package_verifies_driftlines_requests_unchanged():
    record = {"model": "churn", "version": 3, "kind": "feature_drift", "ts": 1764160000.5, "id": "w1:feature_drift",
              "drifted_columns": ["age"]}
    endpoint = parse_alerts(endpoint_config()).endpoints["ops"]
    body = alert_body(record, 1, record["id"], record["id"])
    msg_id = delivery_id("ops", record["id"])
    sent = headers(msg_id, body, endpoint.secret)
    verified = Webhook(SECRET).verify(body, sent)
    assert verified == {"type": "feature_drift", "timestamp": "2025-11-26T12:26:40.500Z", "data": record,
                        "count": 1, "first_id": "w1:feature_drift", "last_id": "w1:feature_drift"}
    assert sent["webhook-id"] == msg_id and sent["webhook-timestamp"].isdigit()
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace(b"age", b"AGE"), sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)


# The queue in Redis ----------------------------------------------------------------------------


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture
def store_factory(stack, stack_settings):
    app_id = f"alerts-{uuid.uuid4().hex[:8]}"

    def make() -> AlertStore:
        return AlertStore(async_redis_client(stack_settings.redis_url, timeout=5.0), app_id)

    return make


def record(i: int, kind: str = "feature_drift", model: str = "churn") -> dict:
    return {"model": model, "version": 1, "kind": kind, "ts": 1000.0 + i, "id": f"w{i}:{kind}"}


def test_records_are_queued_once_and_collapsed_within_the_cooldown(store_factory):
    async def scenario():
        store = store_factory()
        queue = lambda r, now, collapse=True: store.queue("ops", r, delivery_id("ops", r["id"]),  # noqa: E731
                                                          collapse=collapse, cooldown=60.0, now=now)
        first = await queue(record(0), 100.0)
        again = await queue(record(0), 101.0)  # the same record delivered twice on the topic
        burst = [await queue(record(i), 100.0 + i) for i in range(1, 5)]
        other_model = await queue(record(9, model="fraud"), 105.0)
        deployed = [await queue(record(i, kind="deployed"), 106.0 + i, collapse=False) for i in range(2)]
        assert first[0] == "queued" and again == ("duplicate", "")
        # Record ids are unique per model only (a concept drift's is VERSION:ALIAS:POSITION).
        same_id = dict(record(0), model="other")
        assert (await store.queue("ops", same_id, delivery_id("ops", "other", same_id["id"]), collapse=True, cooldown=60.0,
                                  now=100.5))[0] == "queued"
        assert {outcome for outcome, _ in burst} == {"collapsed"} and len({d for _, d in burst}) == 1
        assert other_model[0] == "queued" and [o for o, _ in deployed] == ["queued", "queued"]
        # Before the cooldown ends only the leading deliveries are due, oldest first.
        claimed = [await store.claim("ops", lease=1000.0, now=120.0) for _ in range(6)]
        assert [c and (c["model"], c["first_id"]) for c in claimed] == [
            ("churn", "w0:feature_drift"), ("other", "w0:feature_drift"), ("fraud", "w9:feature_drift"),
            ("churn", "w0:deployed"), ("churn", "w1:deployed"), None]
        # At its end the collapsed delivery is due, with the count and the first and last ids.
        collapsed = await store.claim("ops", lease=1000.0, now=161.0)
        assert (collapsed["count"], collapsed["first_id"], collapsed["last_id"]) == (4, "w1:feature_drift", "w4:feature_drift")
        assert json.loads(collapsed["record"])["id"] == "w4:feature_drift"
        # A record after the cooldown leads a new one, delivered at once.
        assert (await queue(record(20), 170.0))[0] == "queued"
        # A claimed delivery whose worker died is claimed again when its lease ends.
        assert (await store.claim("ops", lease=30.0, now=170.5))["first_id"] == "w20:feature_drift"
        assert await store.claim("ops", lease=30.0, now=171.0) is None
        assert (await store.claim("ops", lease=30.0, now=201.0))["first_id"] == "w20:feature_drift"
        await store.redis.aclose()

    run(scenario())


def test_a_sender_delivers_retries_gives_up_honours_retry_after_and_stops_at_410(store_factory):
    receiver = Receiver(SECRET, modes={"/fail": "fail", "/gone": "gone", "/later": "retry-after:3600"})

    async def scenario():
        store, counters, session = store_factory(), Counter(), session_holder()
        config = parse_alerts({"endpoints": [
            {"name": name, "url": receiver.url(f"/{name}"), "secret": SECRET, "retry_schedule": [0, 0, 0]}
            for name in ("ok", "fail", "gone", "later")]})
        senders = {name: Sender(e, store, session, counters) for name, e in config.endpoints.items()}
        for name in senders:
            await store.queue(name, record(1), delivery_id(name, "w1:feature_drift"), collapse=True, cooldown=60.0)
        while await senders["fail"].send_one():  # three attempts, then given up
            pass
        for name in ("ok", "gone", "later"):
            await senders[name].send_one()
        deliveries = {d["endpoint"]: d for d in await store.list()}
        assert deliveries["ok"]["state"] == "delivered" and deliveries["ok"]["last_status"] == 204
        assert (deliveries["fail"]["state"], deliveries["fail"]["attempts"]) == ("failed", 3)
        assert [h["status"] for h in deliveries["fail"]["history"]] == [500, 500, 500]
        assert deliveries["gone"]["state"] == "failed" and "410" in deliveries["gone"]["last_error"]
        assert senders["gone"].disabled is not None and "gone" in await store.disabled()
        later = deliveries["later"]
        assert later["state"] == "pending" and later["due"] - later["history"][0]["ts"] >= 3600 - 1
        attempts = await store.attempts(endpoint="fail")
        assert [a["attempt"] for a in attempts] == [3, 2, 1] and all(a["record_id"] == "w1:feature_drift" for a in attempts)
        assert counters["delivered"] == 1 and counters["failed"] == 2
        await session.close()
        await store.redis.aclose()

    try:
        run(scenario())
    finally:
        receiver.stop()
    [ok] = receiver.at("/ok")
    assert ok.verify_error is None and ok.verified["data"]["id"] == "w1:feature_drift"
    ids = {r.headers["webhook-id"] for r in receiver.at("/fail")}
    assert len(receiver.at("/fail")) == 3 and len(ids) == 1  # the same webhook-id on every retry


def test_no_secret_shows_in_the_api_or_in_an_error_about_the_file(tmp_path):
    """A Slack endpoint's token is its URL's path; a YAML error quotes the offending line, which may
    hold a whsec_ secret; a secret pasted into the wrong field would be echoed back as 'got ...'."""
    secret = new_secret()
    slack = parse_alerts({"endpoints": [{"name": "chat", "url": "https://hooks.example/services/T0/B0/TOKEN123", "format": "slack"}]})
    assert "TOKEN123" not in json.dumps(slack.endpoints["chat"].describe())
    broken = tmp_path / "alerts.yaml"
    broken.write_text(f'endpoints:\n  - name: ops\n    url: "https://x.example/hook"\n    secret: "{secret}" ]\n')
    with pytest.raises(ConfigError) as error:
        load_alerts_file(broken, {})
    assert "line 4" in str(error.value) and secret[-12:-2] not in str(error.value)
    with pytest.raises(ConfigError) as wrong_field:
        parse_alerts({"endpoints": [{"name": "ops", "url": secret, "secret": secret}]})
    assert "url" in str(wrong_field.value) and secret[10:] not in str(wrong_field.value)
