"""A webhook receiver on loopback for the alerts tests: it records every request, verifies it with
the ``standardwebhooks`` package (what a user's receiver would run), and answers as each path's
mode says: ``ok`` (204), ``fail`` (500), ``gone`` (410), ``hang`` (holds the request open),
``retry-after:N`` (503 with that header)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from standardwebhooks import Webhook

from stream.dev.webhook_receiver import LoopbackReceiver


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    ts: float
    verified: dict | None = None
    verify_error: str | None = None

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver(LoopbackReceiver):
    def __init__(self, secret: str, port: int = 0, modes: dict | None = None):
        super().__init__(self._answer, port=port)
        self.secret = secret
        self.modes = dict(modes or {})  # path -> mode
        self.received: list[Received] = []
        self.hanging_now = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.start()

    def _answer(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        item = Received(path, headers, body, time.time())
        if "webhook-signature" in headers:
            try:
                item.verified = Webhook(self.secret).verify(body, headers)
            except Exception as exc:
                item.verify_error = f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.received.append(item)
        mode = self.modes.get(path, "ok")
        if mode == "hang":
            with self.lock:
                self.hanging_now += 1
            self.release.wait(120)
            with self.lock:
                self.hanging_now -= 1
            mode = "ok"
        if mode.startswith("retry-after:"):
            return 503, {"Retry-After": mode.split(":", 1)[1]}
        return {"ok": 204, "fail": 500, "gone": 410}[mode], {}

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def stop(self) -> None:
        self.release.set()
        super().stop()
