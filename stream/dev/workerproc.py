"""Running ``driftline worker`` as a child process (the demo, the tests and the benchmarks).

The child gets the settings as ``DRIFTLINE_*`` variables and logs to a file; ``wait_ready``
polls ``GET /health`` until the worker answers and its consumer holds partitions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from stream.errors import StackError
from stream.settings import Settings


class WorkerProcess:
    def __init__(self, settings: Settings, log_path: str | Path, extra_env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = Path(log_path)
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.web_host}:{self.settings.web_port}"

    def start(self) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
        env.update(self.settings.to_env(), **self.extra_env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "worker"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return self

    def health(self, timeout: float = 2.0) -> dict | None:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 503 still carries the body
            return json.loads(exc.read() or b"null")
        except (OSError, ValueError):
            return None

    def wait_ready(self, timeout: float = 120.0, progress=None, models: list[str] = ()) -> dict:
        """Wait until the worker answers /health with partitions assigned (and ``models`` loaded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise StackError(f"the worker exited (code {self.process and self.process.returncode}); log:\n{self.log_tail()}")
            health = self.health()
            loaded = {n for n, m in (health or {}).get("models", {}).items() if m.get("loaded_version") is not None}
            if health and health.get("assigned_partitions") and loaded.issuperset(models):
                return health
            if progress:
                progress(health)
            time.sleep(0.5)
        raise StackError(f"the worker was not ready within {timeout:.0f}s; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; True when the worker exited by itself."""
        if self.process is None or self.process.poll() is not None:
            return True
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill()
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
