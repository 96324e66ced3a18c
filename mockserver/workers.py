"""``mockserver serve --workers N``: N processes on one port, one state.

The supervisor (this module, run by the CLI) never serves a request itself. It reserves the port
with SO_REUSEPORT, names one shared state (the given ``--state``, or a private redis-server on a
unix socket in a temporary folder), then starts N ``mockserver serve`` processes that each bind
the same port with SO_REUSEPORT: the kernel spreads connections across them. A worker says it is
listening on a pipe; the supervisor prints the "listening" line once, when all of them are.
SIGTERM/SIGINT stop every worker (then the private Redis); a worker that dies on its own stops
all of them, with a message that says which one and how, and exit status 1: a mock with a hole
in it is worse than no mock. Only the standard library: this is the core layer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["WORKER_ENV", "Supervisor", "WorkerError", "private_redis_refusal"]

#: set in a worker's environment: "INDEX/COUNT FD", the pipe it writes "ready" to
WORKER_ENV = "MOCKSERVER_WORKER"
START_TIMEOUT = 60.0  # seconds for every worker to listen (a big scenario set loads slowly)


class WorkerError(Exception):
    """The workers cannot start or run; the message says why and what to do."""


def private_redis_refusal(workers: int) -> str:
    """Why N workers without --state and without redis-server are refused, and what to give."""
    return (f"--workers {workers}: the workers must share one state, and no --state was given and "
            "redis-server is not installed (not found on PATH) to start a private one for the run; "
            "install it (apt-get install redis-server), or give --state redis://HOST:PORT/DB, "
            "or serve with --workers 1")


@dataclass
class PrivateRedis:
    """A redis-server of the run's own: a unix socket in a temporary folder, no persistence."""

    executable: str
    folder: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> str:
        return os.path.join(self.folder, "redis.sock")

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> None:
        self.folder = tempfile.mkdtemp(prefix="mockserver-redis-")
        log = os.path.join(self.folder, "redis.log")
        self.process = subprocess.Popen(
            [self.executable, "--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", self.folder, "--logfile", log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._pong():
                return
            time.sleep(0.02)
        tail = ""
        with contextlib.suppress(OSError), open(log, encoding="utf-8", errors="replace") as f:
            tail = " ".join(f.read().splitlines()[-3:])
        self.stop()
        raise WorkerError(f"the private redis-server ({self.executable}) did not start within {timeout:g}s"
                          + (f": {tail}" if tail else "") + "; give --state redis://HOST:PORT/DB instead")

    def _pong(self) -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.settimeout(1.0)
                s.connect(self.socket_path)
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes]
    ready_fd: int  # the read end of the pipe it writes "ready" to
    ready: bool = False


@dataclass
class Supervisor:
    """Start N workers on one port and one state, watch them, stop them all."""

    workers: int
    argv: Sequence[str]  # the serve command's own arguments; the workers get them plus ours
    env: Mapping[str, str]
    host: str
    port: int
    state: str
    shutdown_timeout: float
    log: Callable[..., None]  # cli._Log.event
    stdout: TextIO
    stderr: TextIO
    redis: PrivateRedis | None = None
    running: list[Worker] = field(default_factory=list)
    _stop: int | None = None  # the signal that asked us to stop

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0) or a worker's death (1); refusals raise WorkerError."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        reservation = None
        try:
            if importlib.util.find_spec("redis") is None:
                raise WorkerError(f"--workers {self.workers}: the workers share their state in Redis, and "
                                  "its client is not installed: pip install 'mockserver[redis]'")
            if self.state == "memory":
                executable = shutil.which("redis-server", path=self.env.get("PATH", os.defpath))
                if executable is None:
                    raise WorkerError(private_redis_refusal(self.workers))
                self.redis = PrivateRedis(executable)
                self.redis.start()
                self.state = self.redis.url
            reservation = self._reserve()
            self.port = reservation.getsockname()[1]
            for index in range(1, self.workers + 1):
                self.running.append(self._spawn(index))
            if not self._wait_ready():
                return 1 if self._stop is None else 0
            shown = f"[{self.host}]" if ":" in self.host else self.host
            url = f"http://{shown}:{self.port}"
            pids = ", ".join(str(w.process.pid) for w in self.running)
            self.log("listening", f"mockserver listening on {url} ({self.workers} workers: pids {pids}; "
                                  f"state {'a private redis-server' if self.redis else self.state})",
                     url=url, pids=[w.process.pid for w in self.running])
            return self._watch()
        finally:
            self._stop_all()
            if reservation is not None:
                reservation.close()
            if self.redis is not None:
                self.redis.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop = signum

    def _reserve(self) -> socket.socket:
        """Hold the port (bound, not listening) so that port 0 becomes one port for all workers."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            s.bind((self.host, self.port))
        except OSError as exc:
            s.close()
            raise WorkerError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        return s

    def _spawn(self, index: int) -> Worker:
        read, write = os.pipe()
        env = dict(self.env)
        env[WORKER_ENV] = f"{index}/{self.workers} {write}"
        argv = [sys.executable, "-m", "mockserver", "serve", *self.argv,
                "--workers", "1", "--port", str(self.port), "--state", self.state]
        try:
            process = subprocess.Popen(argv, env=env, pass_fds=(write,), stdin=subprocess.DEVNULL,
                                       stdout=_stream(self.stdout), stderr=_stream(self.stderr),
                                       # the supervisor has no threads: fork then prctl is safe here
                                       preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # noqa: PLW1509
        finally:
            os.close(write)
        return Worker(index, process, read)

    def _wait_ready(self) -> bool:
        """Until every worker wrote "ready"; False if one died, or did not in time, or a signal came."""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as sel:
            for w in self.running:
                sel.register(w.ready_fd, selectors.EVENT_READ, w)
            while not all(w.ready for w in self.running):
                if self._stop is not None:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    late = [w for w in self.running if not w.ready]
                    self.log("worker", f"mockserver: worker {late[0].index} (pid {late[0].process.pid}) "
                                       f"did not listen within {START_TIMEOUT:g}s; stopping all workers",
                             error=True)
                    return False
                for key, _ in sel.select(min(left, 0.2)):
                    w = key.data
                    if os.read(w.ready_fd, 16):
                        w.ready = True
                    else:  # the pipe closed without "ready": it exited (its own message says why)
                        w.process.wait()
                        self._report(w, starting=True)
                        return False
                    sel.unregister(w.ready_fd)
        return True

    def _watch(self) -> int:
        while self._stop is None:
            for w in self.running:
                if w.process.poll() is not None:
                    if self._stop is not None:
                        return 0
                    self._report(w)
                    return 1
            time.sleep(0.1)
        return 0

    def _report(self, w: Worker, starting: bool = False) -> None:
        code = w.process.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        when = " while starting" if starting else ""
        self.log("worker", f"mockserver: worker {w.index} (pid {w.process.pid}) {how}{when}; "
                           "stopping all workers (none is restarted)", error=True,
                 worker=w.index, pid=w.process.pid, returncode=code)

    def _stop_all(self) -> None:
        alive = [w for w in self.running if w.process.poll() is None]
        for w in alive:
            with contextlib.suppress(ProcessLookupError):
                w.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_timeout + 5.0
        for w in alive:
            try:
                w.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait()
        for w in self.running:
            with contextlib.suppress(OSError):
                os.close(w.ready_fd)
        self.running.clear()


def _stream(stream: TextIO) -> int | TextIO | None:
    """A worker writes its exchange lines straight to our stdout/stderr when they are real files."""
    try:
        stream.flush()
        stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None
    return stream


def worker_ready(env: Mapping[str, str]) -> Callable[[], None] | None:
    """In a worker: the call that tells the supervisor it listens (None when not a worker)."""
    spec = env.get(WORKER_ENV)
    if not spec:
        return None
    fd = int(spec.split()[1])

    def ready() -> None:
        with contextlib.suppress(OSError):
            os.write(fd, b"ready")
            os.close(fd)

    return ready
