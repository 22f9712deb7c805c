"""A Faust worker on Driftline's transport whose agent stops at a message ``block``: what
tests/test_fast_path.py uses to see which offsets the group commits while later messages have
been handed to the stream (the fast path) but not processed.

    python tests/apps/blocking_worker.py BROKER TOPIC GROUP worker -l warn --without-web
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from stream.transport.faust_app import DriftlineApp


def main() -> None:
    broker, topic_name, group = sys.argv[1:4]
    sys.argv = [sys.argv[0], *sys.argv[4:]]
    app = DriftlineApp(group, broker=broker, store="memory://", autodiscover=False, web_enabled=False,
                       datadir=tempfile.mkdtemp(prefix="driftline-fastpath-"), topic_partitions=1,
                       key_serializer="raw", value_serializer="raw", consumer_auto_offset_reset="earliest",
                       broker_commit_interval=0.5,
                       # Faust's default (60 s) makes the embedded broker hold the join for 30 s.
                       broker_session_timeout=10.0)
    app.fetch_max_wait_ms = 100
    topic = app.topic(topic_name, partitions=1)

    @app.agent(topic, concurrency=1)
    async def process(stream):
        async for value in stream:
            if value == b"block":
                print("BLOCKED", flush=True)
                await asyncio.Event().wait()  # never processed: its offset must never be committed
            print(f"PROCESSED {value.decode()}", flush=True)

    @app.timer(0.5)
    async def report() -> None:
        # One string per print: Faust's worker logs each write to stdout as its own line.
        print(f"DELIVERED {app.consumer.delivered_inline} {app.consumer.delivered_waiting}", flush=True)

    app.main()


if __name__ == "__main__":
    main()
