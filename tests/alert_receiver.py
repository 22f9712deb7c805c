"""A webhook receiver on loopback for the alerts tests: it records every request, verifies it with
the ``standardwebhooks`` package (what a user's receiver would run), and answers as each path's
mode says: ``ok`` (204), ``fail`` (500), ``gone`` (410), ``hang`` (holds the request open)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


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


@dataclass
class Receiver:
    secret: str
    port: int = 0
    modes: dict = field(default_factory=dict)  # path -> ok, fail, gone, hang, retry-after:N
    received: list = field(default_factory=list)
    hanging_now: int = 0

    def __post_init__(self):
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                if "webhook-signature" in item.headers:
                    try:
                        item.verified = Webhook(receiver.secret).verify(body, item.headers)
                    except Exception as exc:
                        item.verify_error = f"{type(exc).__name__}: {exc}"
                with receiver.lock:
                    receiver.received.append(item)
                mode = receiver.modes.get(self.path, "ok")
                if mode == "hang":
                    with receiver.lock:
                        receiver.hanging_now += 1
                    receiver.release.wait(120)
                    with receiver.lock:
                        receiver.hanging_now -= 1
                    mode = "ok"
                if mode.startswith("retry-after:"):
                    self.send_response(503)
                    self.send_header("Retry-After", mode.split(":", 1)[1])
                else:
                    self.send_response({"ok": 204, "fail": 500, "gone": 410}[mode])
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
