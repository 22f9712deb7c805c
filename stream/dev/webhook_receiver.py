"""Webhook receivers on loopback: :class:`LoopbackReceiver` hands each POST to a function (the
tests' and benchmarks' receivers build on it), and :class:`DemoReceiver` is the demo's, which
checks each alert's Standard Webhooks signature and prints it as it arrives (what a user's
receiver would do with the alerts).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from stream.alerts.payloads import SignatureError, describe, verify

#: ``answer(path, headers, body)`` -> (HTTP status, extra response headers); headers lower-cased.
Answer = Callable[[str, dict, bytes], tuple[int, dict]]


class LoopbackReceiver:
    """An HTTP server on loopback, each request in a thread of its own (an answer may block)."""

    def __init__(self, answer: Answer, host: str = "127.0.0.1", port: int = 0):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers = answer(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.host = host
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> "LoopbackReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DemoReceiver(LoopbackReceiver):
    """``earlier``: the (model, version) pairs registered before this demo run. Alerts about them
    are said to be so: a worker resumes the drift windows an earlier run left open and judges
    them when it starts, so a second demo hears about the first one's models."""

    def __init__(self, secret: str, out: Callable[[str], None], earlier: frozenset = frozenset()):
        super().__init__(self._answer)
        self.secret, self.out, self.earlier = secret, out, earlier
        self.received: list[dict] = []
        self.rejected = 0

    def _answer(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        try:
            alert = verify(self.secret, headers, body)
        except (SignatureError, ValueError) as exc:
            self.rejected += 1
            self.out(f"  [webhook] REJECTED a request: {exc}")
            return 401, {}
        self.received.append(alert)
        record = alert["data"]
        earlier = (record.get("model"), record.get("version")) in self.earlier
        self.out(f"  [webhook] signed alert received (webhook-id {headers['webhook-id']}, signature verified): "
                 f"{describe(record, alert.get('count', 1))}"
                 + (" [a model of an earlier demo run: its drift window, open when that run ended, was judged now]" if earlier else ""))
        return 204, {}
