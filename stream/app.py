"""The Faust application: the stages of the data flow, wired together.

``create_app(settings)`` builds a new app each call (tests and benchmarks build their own with
their own topics); nothing connects until the worker starts. Each stage registers its own
agents, timers and hooks (``install`` in its ``agents`` module) and gets what it shares with the
others passed in::

    events ──► serving ──► predictions, deadletter, training (inline labels), monitoring
    labels ──► learning ──► training ──► learners ──► snapshots (registry) ──► serving
    monitoring ──► monitoring ──► drift-events, drift store, reports
    drift-events ──► deployment ──► retrain, challenger (registry), shadow-predictions, promote, roll back
    drift-events ──► alerts ──► Redis queues ──► webhook endpoints
    web: /health, /predict, /api/... over the stages' state

The README has the wire contract: the topics, their records and fields.
"""

from __future__ import annotations

import faust

from stream.alerts import agents as alerts_stage
from stream.deployment import agents as deployment_stage
from stream.learning import agents as learning_stage
from stream.learning.pending import PendingStore
from stream.monitoring import agents as monitoring_stage
from stream.monitoring.store import DriftStore
from stream.registry import Registry
from stream.registry.redis_client import async_redis_client
from stream.serving import agents as serving_stage
from stream.serving.model_cache import ModelCache
from stream.settings import Settings
from stream.transport.faust_app import DriftlineApp
from stream.transport.log_floods import limit_connection_error_floods
from stream.transport.producer import BATCH_BYTES
from stream.transport.timer_logs import quiet_short_timer_overlaps
from stream.transport.topics import TopicNames
from stream.web import views as web_stage


def create_app(settings: Settings) -> faust.App:
    app = faust_app(settings)
    topics = TopicNames.from_settings(settings)
    registry_factory = lambda: Registry.from_url(settings.redis_url, timeout=2.0)  # noqa: E731
    # Shared by stages: the loaded models (scored with, summarised against), the predictions
    # waiting for their labels (written by serving, read by learning), the drift store.
    cache = ModelCache(registry_factory, settings.signing_key_bytes(), allow_unsigned=settings.allow_unsigned,
                       monitoring=settings.monitoring)
    # Short timeouts: the score path writes here and must not hang on an unreachable Redis.
    pending = PendingStore(async_redis_client(settings.redis_url, timeout=1.0), settings.app_id,
                           settings.pending_ttl_seconds, settings.pending_max, settings.label_grace_seconds)
    drift_store = DriftStore.from_url(settings.redis_url, timeout=2.0)

    monitoring = monitoring_stage.install(app, settings, topics, cache, registry_factory, drift_store)
    serving = serving_stage.install(app, settings, topics, cache, pending,
                                    summarizer=monitoring.summarizer if monitoring.monitor is not None else None)
    learning = learning_stage.install(app, settings, topics, registry_factory, pending, drift_store,
                                      model_metadata=lambda name: getattr(cache.get(name), "metadata", None))
    deployment = deployment_stage.install(app, settings, topics, registry_factory, learning, monitoring)
    alerts = alerts_stage.install(app, settings, topics)
    web_stage.install(app, settings, serving=serving, learning=learning, monitoring=monitoring, deployment=deployment,
                      alerts=alerts)
    return app


def faust_app(settings: Settings) -> DriftlineApp:
    app = DriftlineApp(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        autodiscover=False,
        datadir=str(settings.state_path / "faust-data"),
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        # A new consumer group reads from the start: events sent before the worker was ready
        # are still scored (nothing lost).
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_application_options={"middlewares": [web_stage.json_errors]},
        producer_linger_ms=5,
        producer_max_batch_size=BATCH_BYTES,  # a scored batch's outputs per partition in one record batch
        stream_buffer_maxsize=max(32768, settings.batch_size * 8),
        broker_max_poll_records=2000,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    quiet_short_timer_overlaps()  # the learners' short timers overlap under load: not worth a warning each
    limit_connection_error_floods()  # a broker away: aiokafka's ~95 error lines a second, one per 10 s
    return app
