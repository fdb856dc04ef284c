"""Which Prefect API a PhysForge process talks to, and the local server behind ``physforge server``.

Three cases, decided once where a process starts (the CLI, or :func:`physforge.flows.discover`):

1. ``PREFECT_API_URL`` set by the user: that server, untouched.
2. The local server is up (``physforge server start``: a real Prefect server with its UI on
   loopback, SQLite under :func:`data_dir`): its URL, so runs, task runs, artifacts and the
   printed "View at" links are in its UI.
3. Neither: an embedded API that lives as long as the command. For the CLI it is
   :class:`EmbeddedServer`, Prefect's ephemeral app under uvicorn in a child process that dies
   with its parent (``PR_SET_PDEATHSIG``), so a command killed by SIGTERM or SIGKILL leaves no
   server behind; in Python, Prefect's own ephemeral mode.

Only the standard library is imported here: the CLI calls this before anything heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from physforge.errors import ConfigError, PhysForgeError

__all__ = [
    "PREFECT_DEFAULTS",
    "ServerError",
    "LocalServer",
    "EmbeddedServer",
    "CommandApi",
    "data_dir",
    "server_dir",
    "local_server",
    "start_server",
    "stop_server",
    "use_local_server",
    "local_server_settings",
]

ENV_DATA = "PHYSFORGE_DATA_DIR"
# Prefect settings PhysForge's commands default to (set before Prefect is imported): no telemetry,
# and more than Prefect's 20 s for an embedded server to start on a busy laptop.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}
DEFAULT_PORT = 4200
_PR_SET_PDEATHSIG = 1


class ServerError(PhysForgeError, RuntimeError):
    """The local Prefect server could not be started, reached or stopped (its log says why:
    something on this machine the user can fix, so the command exits 2)."""

    exit_code = 2


def data_dir() -> Path:
    """PhysForge's per-user data: ``$PHYSFORGE_DATA_DIR``, else the platform's user data dir
    (``$XDG_DATA_HOME/physforge``, default ``~/.local/share/physforge`` on Linux)."""
    if override := os.environ.get(ENV_DATA):
        return Path(override)
    try:
        from platformdirs import user_data_dir
    except ImportError:  # pragma: no cover - platformdirs comes with Prefect
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        return base / "physforge"
    return Path(user_data_dir("physforge", appauthor=False))


def server_dir() -> Path:
    """The local server's folder: its SQLite database, Prefect home, pid, port and log."""
    return data_dir() / "prefect"


@dataclass(frozen=True)
class LocalServer:
    """A running local server: its process (a session leader) and loopback address."""

    pid: int
    host: str
    port: int

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"


def _healthy(api_url: str, timeout: float = 1.0) -> bool:
    import urllib.error
    import urllib.request  # here: `physforge --help` does not import http.client and ssl

    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process reuses the pid
        return False
    return True


def _recorded() -> LocalServer | None:
    folder = server_dir()
    try:
        pid = int((folder / "server.pid").read_text())
        where = json.loads((folder / "server.port").read_text())
        return LocalServer(pid=pid, host=str(where["host"]), port=int(where["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def local_server() -> LocalServer | None:
    """The local server if its recorded process is alive and its API answers, else None."""
    rec = _recorded()
    if rec is None or not _alive(rec.pid) or not _healthy(rec.api_url):
        return None
    return rec


def _free_port(host: str) -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _server_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env.update(PREFECT_DEFAULTS)
    env.update(
        PREFECT_HOME=str(folder / "home"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
        PREFECT_UI_ENABLED="true",
    )
    return env


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def start_server(
    port: int = DEFAULT_PORT, host: str = "127.0.0.1", timeout: float = 180.0
) -> tuple[LocalServer, bool]:
    """Start ``prefect server start`` detached (its own session), wait for ``/api/health``.

    Returns the server and whether it was started now (False: it was already up). ``port=0``
    picks a free port. The database is ``server_dir()/prefect.db``; the log ``server.log``.
    """
    if running := local_server():
        return running, False
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"--host {host!r}: the local server listens on loopback only "
            "(expected 127.0.0.1, localhost or ::1)"
        )
    folder = server_dir()
    folder.mkdir(parents=True, exist_ok=True)
    port = port or _free_port(host)
    if _port_taken(host, port):
        raise ConfigError(
            f"port {port} on {host} is in use by another program; choose another "
            "with `physforge server start --port N` (0 picks a free one)"
        )
    log = folder / "server.log"
    prefect_bin = Path(sys.executable).parent / "prefect"
    cmd = [str(prefect_bin)] if prefect_bin.exists() else [sys.executable, "-m", "prefect"]
    cmd += ["server", "start", "--host", host, "--port", str(port)]
    with open(log, "ab") as sink:
        proc = subprocess.Popen(
            cmd,
            env=_server_env(folder),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=folder,
        )
    (folder / "server.pid").write_text(str(proc.pid))
    (folder / "server.port").write_text(json.dumps({"host": host, "port": port}))
    server = LocalServer(pid=proc.pid, host=host, port=port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(
                f"the Prefect server exited with code {proc.returncode} before "
                f"its API answered; the end of {log}:\n{_tail(log)}"
            )
        if _healthy(server.api_url):
            return server, True
        time.sleep(0.25)
    _stop_group(proc.pid)
    raise ServerError(
        f"the Prefect server did not answer {server.api_url}/health within "
        f"{timeout:.0f} s (stopped it); the end of {log}:\n{_tail(log)}"
    )


def _stop_group(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the server's process group (it and its children), SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it where it is our child
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def stop_server() -> LocalServer | None:
    """Stop the recorded server and its children; the server that was stopped, or None."""
    rec = _recorded()
    if rec is None:
        return None
    stopped = rec if _alive(rec.pid) else None
    if stopped:
        _stop_group(rec.pid)
    for name in ("server.pid", "server.port"):
        with contextlib.suppress(FileNotFoundError):
            (server_dir() / name).unlink()
    return stopped


def use_local_server(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Point this process at the local server when it is up and the user set no
    ``PREFECT_API_URL``; the URL now in use, or None (embedded mode). Call before Prefect is
    imported: Prefect reads its settings from the environment then."""
    environ = os.environ if environ is None else environ
    if environ.get("PREFECT_API_URL"):
        return environ["PREFECT_API_URL"]
    server = local_server()
    if server is None:
        return None
    environ["PREFECT_API_URL"] = server.api_url
    return server.api_url


@contextlib.contextmanager
def local_server_settings() -> Iterator[str | None]:
    """For code that runs after Prefect is imported (``discover()`` in a notebook): the local
    server's URL as a temporary setting where no API is configured; else nothing changes."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    server = None if get_current_settings().api.url else local_server()
    if server is None:
        yield get_current_settings().api.url
        return
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        yield server.api_url


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """In the child: the kernel sends SIGTERM when the thread that forked it exits."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class EmbeddedServer:
    """Prefect's ephemeral API app under uvicorn in a child that dies with its parent.

    The same app and flags Prefect's ephemeral mode runs (``create_app`` with
    ``PREFECT__SERVER_EPHEMERAL``: SQLite in ``PREFECT_HOME``, no UI), started here so that the
    child gets ``PR_SET_PDEATHSIG`` (Linux): if this process dies, even by SIGKILL, the kernel
    sends the server SIGTERM. :meth:`start` only spawns it (the caller imports the science
    meanwhile); :meth:`wait` waits for ``/api/health``; :meth:`close` terminates and reaps it.
    """

    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout  # generous: on a loaded 2-core machine it took > 90 s
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_url = ""
        self._stderr: IO[bytes] | None = None
        self._ready = False

    def start(self) -> EmbeddedServer:
        port = _free_port("127.0.0.1")
        self.api_url = f"http://127.0.0.1:{port}/api"
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **PREFECT_DEFAULTS,
        }
        env.pop("PREFECT_API_URL", None)
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        return self

    def wait(self) -> str:
        """Block until the API answers; its URL."""
        if self._ready:
            return self.api_url
        if self.proc is None:
            self.start()
        assert self.proc is not None
        deadline = time.monotonic() + self.timeout
        while not _healthy(self.api_url, timeout=2.0):
            if self.proc.poll() is not None:
                raise ServerError(
                    f"the embedded Prefect API exited with code "
                    f"{self.proc.returncode} before it answered: {self._err()}"
                )
            if time.monotonic() > deadline:
                self.close()
                raise ServerError(
                    f"the embedded Prefect API did not answer {self.api_url} "
                    f"within {self.timeout:.0f} s: {self._err()}"
                )
            time.sleep(0.05)
        self._ready = True
        return self.api_url

    def _err(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _drain_prefect(timeout: float = 10.0) -> None:
    """Send Prefect's queued logs and events now, while the embedded API still answers (as
    ``prefect_test_harness`` does before it stops its server)."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


class CommandApi:
    """The Prefect API of one CLI command: the user's ``PREFECT_API_URL``, the local server, or
    an :class:`EmbeddedServer` (started on entry, awaited by :meth:`wait`, stopped on exit).
    Entered before Prefect is imported; sets ``PREFECT_API_URL`` (and an empty
    ``PREFECT_UI_URL`` for the embedded API, which has no UI, so Prefect prints no dead link)."""

    def __init__(self) -> None:
        self.embedded: EmbeddedServer | None = None
        self.url: str | None = None
        self._saved: dict[str, str | None] = {}
        self._stack = contextlib.ExitStack()
        self._beating = False

    def __enter__(self) -> CommandApi:
        self._saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_UI_URL")}
        self.url = use_local_server()
        if self.url is None:
            self.embedded = EmbeddedServer().start()
            self.url = self.embedded.api_url
            os.environ.update(PREFECT_API_URL=self.url, PREFECT_UI_URL="")
        return self

    def wait(self) -> str | None:
        """Wait for the API (called once Prefect is imported); from here on, flow runs this
        command starts beat with PhysForge's heartbeats (:mod:`physforge.heartbeat`)."""
        if self.embedded is not None:
            self.embedded.wait()
        if not self._beating:
            from physforge.heartbeat import own_heartbeats

            self._stack.enter_context(own_heartbeats())
            self._beating = True
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._beating = False
        if self.embedded is not None:
            _drain_prefect()
            self.embedded.close()
            self.embedded = None
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
