"""The demo's webhook receiver: an HTTP server on loopback that checks each alert's Standard
Webhooks signature and prints it as it arrives (what a user's receiver would do with the alerts).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from stream.alerts.payloads import SignatureError, describe, verify


class DemoReceiver:
    def __init__(self, secret: str, out: Callable[[str], None], host: str = "127.0.0.1"):
        self.secret, self.out = secret, out
        self.received: list[dict] = []
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    alert = verify(receiver.secret, dict(self.headers.items()), body)
                except (SignatureError, ValueError) as exc:
                    receiver.rejected += 1
                    receiver.out(f"  [webhook] REJECTED a request: {exc}")
                    self.send_response(401)
                else:
                    receiver.received.append(alert)
                    receiver.out(f"  [webhook] signed alert received (webhook-id {self.headers['webhook-id']}, "
                                 f"signature verified): {describe(alert['data'], alert.get('count', 1))}")
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/driftline"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "DemoReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
