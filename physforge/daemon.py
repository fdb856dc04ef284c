"""The warm process: serves ``physforge`` commands without paying the start-up on every call.

A ``physforge`` invocation spends seconds before it does any science: importing Prefect, the
science stack and torch, and starting Prefect's ephemeral API server. A re-run served from cache
does almost nothing else. So the ``physforge`` command is a small client (standard library only)
that hands its command line, working directory, environment and terminal (stdin, stdout and
stderr, as file descriptors over a Unix socket) to a warm process of the same installation. The
warm process has everything imported and an ephemeral Prefect API running, and forks one child
per command: the child takes the caller's environment and working directory, writes straight to
the caller's terminal, and exits with the command's exit code, which the client exits with.
Signals (Ctrl-C) are forwarded to the child. Nothing is shared between commands but the imported
modules and the API server: the same isolation as separate processes, which they are.

The first command starts the warm process (in parallel: the imports and the API server) and is
served by it; it stops after ``PHYSFORGE_DAEMON_IDLE`` seconds (default 600) without a command,
and as soon as PhysForge's sources or the installed packages change. ``PHYSFORGE_DAEMON=0``
runs every command in its own process instead; so does any platform other than Linux, and any
failure to reach the warm process (the command then runs here, with a note on stderr).
``physforge daemon status|stop`` shows or stops it.

Security: the socket lives in a directory only its user can enter (mode 0700), and the warm
process serves only connections from its own user id (``SO_PEERCRED``). Commands and
environments are never logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "serve", "daemon_dir", "running_daemons", "stop_daemons"]

ENV_SWITCH = "PHYSFORGE_DAEMON"
ENV_DIR = "PHYSFORGE_DAEMON_DIR"
ENV_IDLE = "PHYSFORGE_DAEMON_IDLE"
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 120.0
# Commands worth serving warm: the ones that import the science stack or talk to Prefect.
SERVED = frozenset({"discover", "demo", "report", "train", "solve", "predict", "loop", "example"})
# Environment read at import time (by Prefect's settings and logging, torch, DeepXDE, Python):
# a warm process serves only callers whose values are the ones it was started with.
_IMPORT_ENV = ("PREFECT_", "DDE_", "OMP_", "MKL_", "OPENBLAS_", "PYTHON", "CUDA_", "DASK_",
               "TORCH", "LD_")
_OFF = {"0", "off", "false", "no"}
# Prefect settings PhysForge's commands default to (set before Prefect is imported): no telemetry
# from the ephemeral server, and more than Prefect's 20 s for it to start on a busy laptop.
PREFECT_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}
_HEADER = struct.Struct("!I")


# --------------------------------------------------------------------------- client side
def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``physforge`` command: through the warm process where possible."""
    args = sys.argv[1:] if argv is None else list(argv)
    if _wanted(args):
        code = _run_served(args)
        if code is not None:
            sys.exit(code)
    from physforge.cli import app

    app(args=args, prog_name="physforge")


def _wanted(args: list[str]) -> bool:
    return (os.environ.get(ENV_SWITCH, "1").strip().lower() not in _OFF
            and sys.platform == "linux" and bool(args) and args[0] in SERVED)


def daemon_dir() -> Path:
    """Where the warm processes' sockets, locks and logs live (created with mode 0700)."""
    base = os.environ.get(ENV_DIR)
    if base:
        path = Path(base)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "physforge"
    else:
        path = Path.home() / ".cache" / "physforge" / "daemon"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _code_fingerprint() -> str:
    """PhysForge's sources and the installed packages, by name, size and modification time."""
    import sysconfig

    h = hashlib.sha256(sys.executable.encode())
    pkg = Path(__file__).resolve().parent
    for root, dirs, names in os.walk(pkg):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".ipynb", ".json", ".yaml")):
                st = os.stat(os.path.join(root, name))
                h.update(f"{root}/{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    for where in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        if os.path.isdir(where):
            h.update(f"{where}:{os.stat(where).st_mtime_ns};".encode())
    return h.hexdigest()


def _import_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(env.items()) if k.startswith(_IMPORT_ENV)}


def _profiles_stamp(env: dict[str, str]) -> str:
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect")
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    try:
        return f"{path}:{path.stat().st_mtime_ns}"
    except OSError:
        return f"{path}:absent"


def _identity(env: dict[str, str], code: str | None = None) -> str:
    """Which warm process may serve a caller: same interpreter, code and import-time env."""
    # the commands set PREFECT_DEFAULTS where unset: a caller that has imported physforge.cli
    # (and so holds them) and one that has not are the same caller
    doc = {"code": code or _code_fingerprint(), "env": _import_env({**PREFECT_DEFAULTS, **env}),
           "profiles": _profiles_stamp(env)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def _send(sock: socket.socket, doc: dict[str, Any], fds: list[int] | None = None) -> None:
    payload = json.dumps(doc).encode()
    header = _HEADER.pack(len(payload))
    if fds:
        socket.send_fds(sock, [header], fds)
    else:
        sock.sendall(header)
    sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket, maxfds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if maxfds:
        header, fds, _, _ = socket.recv_fds(sock, _HEADER.size, maxfds)
        if len(header) < _HEADER.size:
            header += _recv_exact(sock, _HEADER.size - len(header))
    else:
        header = _recv_exact(sock, _HEADER.size)
    if len(header) != _HEADER.size:
        raise ConnectionError("connection closed")
    (size,) = _HEADER.unpack(header)
    return json.loads(_recv_exact(sock, size)), fds


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def _note(message: str) -> None:
    sys.stderr.write(f"physforge: {message}\n")
    sys.stderr.flush()


def _start(ident: str, path: Path) -> socket.socket | None:
    """Start the warm process for ``ident`` and connect to it (None: it could not start)."""
    log = daemon_dir() / f"{ident}.log"
    idle = os.environ.get(ENV_IDLE, str(int(DEFAULT_IDLE_S)))
    _note(f"starting a warm process for later commands (stops after {idle} s idle; "
          f"{ENV_SWITCH}=0 turns it off)")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "physforge.daemon", "serve", str(path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd="/",
            start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        sock = _connect(path)
        if sock is not None:
            return sock
        code = proc.poll()
        if code is not None and code != 0:
            tail = log.read_text(errors="replace")[-2000:]
            _note(f"the warm process exited with code {code}; running in this process "
                  f"instead. Its log ({log}) ends with:\n{tail}")
            return None
        time.sleep(0.05)
    _note(f"the warm process did not answer within {START_TIMEOUT_S:.0f} s; running in this "
          f"process instead (log: {log})")
    return None


def _run_served(args: list[str]) -> int | None:
    """Run ``args`` in a child of the warm process; its exit code, or None to run here."""
    env = dict(os.environ)
    ident = _identity(env)
    path = daemon_dir() / f"{ident}.sock"
    sock = _connect(path) or _start(ident, path)
    if sock is None:
        return None
    with sock:
        try:
            _send(sock, {"argv": args, "cwd": os.getcwd(), "env": env}, fds=[0, 1, 2])
            started, _ = _recv(sock)
        except (OSError, ConnectionError, ValueError):
            _note("the warm process did not take the command; running in this process instead")
            return None
        pid = int(started["pid"])

        def forward(signum, _frame):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            if signal.getsignal(sig) != signal.SIG_IGN:  # ignored here (nohup, `cmd &`) stays so
                signal.signal(sig, forward)
        try:
            done, _ = _recv(sock)
        except (OSError, ConnectionError, ValueError):
            _note("lost the warm process while it ran the command (it may have been stopped)")
            return 1
        return int(done["exit"])


# --------------------------------------------------------------------------- warm process
def _preload() -> None:
    """Import what the commands need, so that each forked child starts with it."""
    import importlib
    import pkgutil

    import physforge

    skip = ("physforge.daemon", "physforge.testing", "physforge.__main__")
    for mod in pkgutil.walk_packages(physforge.__path__, "physforge."):
        if not mod.name.startswith(skip):
            importlib.import_module(mod.name)
    for name in ("prefect.flow_engine", "prefect.task_engine", "prefect.results",
                 "prefect.artifacts", "xarray", "netCDF4", "h5netcdf", "zarr",
                 "pysindy", "sklearn.linear_model", "scipy.integrate", "sympy", "pandera",
                 "great_expectations", "papermill", "nbconvert", "nbformat",
                 "jupyter_client", "matplotlib", "matplotlib.pyplot", "torch", "deepxde",
                 "distributed", "s3fs", "pyarrow", "pandas"):
        importlib.import_module(name)
    for name in _PRELOAD_LAZY:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional part of a package (pandera's geopandas API)
            pass


# What `physforge discover` imports lazily on a first and on a cached run (seen with the
# warm process's own import learning); preloaded so that a command straight after another
# does not wait for the warm process to learn them.
_PRELOAD_LAZY = (
    "anyio._backends._asyncio", "anyio.streams.memory", "anyio.streams.stapled",
    "anyio.streams.tls", "dask.array", "dask.backends", "fsspec.implementations.chained",
    "graphviz", "prefect.utilities.visualization", "ipykernel", "mistune.plugins.def_list",
    "mistune.plugins.task_lists", "mistune.plugins.url", "pandas.core.methods.to_dict",
    "pandera.accessors", "pandera.backends.pandas.register", "pandera.backends.pandas.container",
    "pandera.backends.pandas.components", "pandera.backends.pandas.array",
    "pandera.backends.pandas.builtin_checks", "pandera.backends.pandas.builtin_hypotheses",
    "pandera.backends.register_checks", "pandera.strategies", "pyarrow.pandas_compat",
    "rich._emoji_codes", "scipy.fftpack", "scipy.io", "sympy.assumptions.wrapper",
    "sympy.combinatorics", "sympy.sets.setexpr", "sympy.tensor.tensor", "typer._adapters",
)


def _start_api(server: Any, report: dict[str, Any]) -> None:
    """Start Prefect's ephemeral API server (a subprocess) and wait until it answers; a second
    try after a failed start (SQLite can be locked by another process for a moment)."""
    for attempt in (1, 2):
        try:
            server.start()
        except Exception as exc:  # noqa: BLE001 - reported, and the caller refuses to serve
            report["error"] = f"attempt {attempt}: {exc}"
            server.stop()
            time.sleep(1.0)
            continue
        report["url"] = server.api_url
        report["server"] = server
        return


def serve(path: str | Path) -> None:
    """Run the warm process for the socket ``path`` until it is idle, stale or stopped."""
    import fcntl
    import selectors
    import threading

    path = Path(path)
    os.umask(0o077)
    lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 - held for the lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another warm process serves this identity
    started_env = dict(os.environ)
    code = _code_fingerprint()
    ident = _identity(started_env, code)
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    idle_s = float(os.environ.get(ENV_IDLE, DEFAULT_IDLE_S))
    api: dict[str, Any] = {}
    starter = None
    if not os.environ.get("PREFECT_API_URL"):
        # imported here, not in the thread: two threads importing at once can meet
        # half-initialised modules
        from prefect.server.api.server import SubprocessASGIServer

        starter = threading.Thread(target=_start_api, args=(SubprocessASGIServer(), api),
                                   name="physforge-api")
        starter.start()
    _preload()
    if starter is not None:
        starter.join()
        if "url" not in api:
            raise SystemExit(f"the Prefect API server did not start: {api.get('error')}")
    extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if extra:  # forking with live threads could deadlock a child: refuse to serve
        raise SystemExit(f"threads alive after preloading, not serving: {extra}")
    settings = _settings_ahead(started_env, api.get("url"))

    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp))
    listener.listen(64)
    os.replace(tmp, path)
    info = {"pid": os.getpid(), "ident": ident, "socket": str(path), "api": api.get("url"),
            "started": time.time(), "executable": sys.executable}
    info_path = path.with_suffix(".json")
    info_path.write_text(json.dumps(info))
    print(f"{time.strftime('%F %T')} serving on {path} (pid {os.getpid()}, "
          f"api {api.get('url') or 'from the environment'})", flush=True)

    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    children: dict[int, socket.socket] = {}
    stopping = False
    last = time.monotonic()
    last_check = last

    def stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while True:
            for key, _ in sel.select(timeout=0.05 if children else 1.0):
                if key.data == "accept":
                    conn, _ = listener.accept()
                    if stopping:  # the client runs the command itself
                        conn.close()
                        continue
                    pid = _fork_command(conn, listener, children, api.get("url"), settings)
                    if pid:
                        children[pid] = conn
                        sel.register(conn, selectors.EVENT_READ, pid)
                        try:  # wakes the loop the moment the child exits (Linux ≥ 5.3)
                            sel.register(os.pidfd_open(pid), selectors.EVENT_READ, ("exit", pid))
                        except (AttributeError, OSError):
                            pass  # the 50 ms poll below reaps it
                elif isinstance(key.data, tuple):  # a child exited: reaped below
                    sel.unregister(key.fileobj)
                    os.close(key.fd)
                else:  # the client went away before its command finished
                    conn = key.fileobj
                    if not conn.recv(1, socket.MSG_PEEK):
                        sel.unregister(conn)
                        try:
                            os.kill(key.data, signal.SIGTERM)
                        except ProcessLookupError:
                            pass
            for pid, status in _reaped(children):
                conn = children.pop(pid)
                try:
                    sel.unregister(conn)
                except (KeyError, ValueError):
                    pass
                try:
                    _send(conn, {"exit": _exit_code(status)})
                except OSError:
                    pass
                conn.close()
                threads = _learn_imports(pid)
                if threads and not stopping:
                    print(f"{time.strftime('%F %T')} importing what a command used started "
                          f"threads {threads}: stopping", flush=True)
                    stopping = True
                last = time.monotonic()
            now = time.monotonic()
            if not stopping and now - last_check > 5.0:
                last_check = now
                if _code_fingerprint() != code:
                    print(f"{time.strftime('%F %T')} PhysForge or its packages changed: "
                          "stopping", flush=True)
                    stopping = True
            if not stopping and not children and now - last > idle_s:
                print(f"{time.strftime('%F %T')} idle for {idle_s:.0f} s: stopping", flush=True)
                stopping = True
            if stopping:
                _unlink_if_ours(path, info_path, os.getpid())
                if not children:
                    break
    finally:
        _unlink_if_ours(path, info_path, os.getpid())
        listener.close()
        if "server" in api:
            api["server"].stop()


def _modules_file(pid: int) -> Path:
    return daemon_dir() / f".modules.{pid}"


def _learn_imports(pid: int) -> list[str]:
    """Import what the finished child ``pid`` imported that this process has not; returns the
    names of threads that appeared (then this process must stop serving: forking is unsafe)."""
    import importlib
    import threading

    path = _modules_file(pid)
    try:
        names = path.read_text().split()
        path.unlink()
    except OSError:
        return []
    for name in sorted(names, key=lambda n: n.count(".")):
        if name in sys.modules or name.startswith(("__main__", "physforge.daemon")):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - a module a child imported may not import here
            continue
    return [t.name for t in threading.enumerate() if t is not threading.main_thread()]


def _unlink_if_ours(path: Path, info_path: Path, pid: int) -> None:
    try:
        if json.loads(info_path.read_text()).get("pid") != pid:
            return
    except (OSError, ValueError):
        return
    path.unlink(missing_ok=True)
    info_path.unlink(missing_ok=True)


def _reaped(children: dict[int, socket.socket]) -> list[tuple[int, int]]:
    out = []
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in children:
            out.append((pid, status))
    return out


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _fork_command(conn: socket.socket, listener: socket.socket,
                  children: dict[int, socket.socket], api_url: str | None,
                  settings: tuple[Any, str | None] | None = None) -> int | None:
    """Fork a child for the command on ``conn``; the child's pid (None: refused)."""
    try:
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  struct.calcsize("3i")))[1]
        if uid != os.getuid():
            conn.close()
            return None
        request, fds = _recv(conn, maxfds=3)
    except (OSError, ConnectionError, ValueError):
        conn.close()
        return None
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:  # the child: becomes the command
        code = 70
        try:
            listener.close()
            for other in children.values():
                other.close()
            code = _child(conn, fds, request, api_url, settings)
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    try:
        _send(conn, {"pid": pid})
    except OSError:
        os.kill(pid, signal.SIGTERM)
    return pid


# Files in the working directory that Prefect's settings read (relative paths).
_PREFECT_CWD_FILES = (".env", "prefect.toml", "pyproject.toml")


def _child_env(env: dict[str, str], api_url: str | None) -> dict[str, str]:
    """The environment a command runs with: the caller's, the private API where none is set,
    and the Prefect defaults ``physforge.cli`` sets at import in a fresh process."""
    out = dict(env)
    if api_url and not out.get("PREFECT_API_URL"):
        out["PREFECT_API_URL"] = api_url
    for key, value in PREFECT_DEFAULTS.items():
        out.setdefault(key, value)
    return out


def _settings_ahead(env: dict[str, str], api_url: str | None) -> tuple[Any, str | None] | None:
    """Prefect's settings context for a child of this warm process, built once (building it
    costs a command over half a second): every caller it serves has the same Prefect
    variables (its identity says so). None where this process's own directory holds a file
    that Prefect's settings read."""
    import prefect.context

    if any(os.path.exists(f) for f in _PREFECT_CWD_FILES):
        return None
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(_child_env(env, api_url))
        return prefect.context.root_settings_context(), env.get("HOME")
    except Exception:  # noqa: BLE001 - then every child builds its own, as before
        return None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _settings_for_child(env: dict[str, str], api_url: str | None,
                        ahead: tuple[Any, str | None] | None = None) -> None:
    """Prefect's settings from the caller's environment and working directory (``.env``,
    ``prefect.toml``, ``pyproject.toml``), as a fresh process would read them at import: the
    context built ahead by the warm process where the directory has none of those files and
    the home is the same, else built here."""
    import prefect.context

    if (ahead is not None and env.get("HOME") == ahead[1]
            and not any(os.path.exists(f) for f in _PREFECT_CWD_FILES)):
        prefect.context.GLOBAL_SETTINGS_CONTEXT = ahead[0]
    else:
        import prefect.logging.configuration

        prefect.context.refresh_global_settings_context()
        # logging was configured when Prefect was imported: levels from these settings now
        prefect.logging.configuration.setup_logging()
    # Flow-run heartbeats feed Prefect's crashed-run automations on a shared server. Against
    # the warm process's private API nothing reads them, and stopping the heartbeat thread
    # costs each run up to a second: they are off there unless asked for.
    private_api = api_url is not None and env.get("PREFECT_API_URL") == api_url
    asked = any(k in env for k in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY",
                                   "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"))
    if private_api and not asked:
        ctx = prefect.context.GLOBAL_SETTINGS_CONTEXT
        flows = ctx.settings.flows.model_copy(update={"heartbeat_frequency": None})
        prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.SettingsContext(
            profile=ctx.profile, settings=ctx.settings.model_copy(update={"flows": flows}))


def _child(conn: socket.socket, fds: list[int], request: dict[str, Any],
           api_url: str | None, settings: tuple[Any, str | None] | None = None) -> int:
    """The command, as a fresh ``physforge`` process would run it; returns the exit code."""
    import atexit
    import io
    import random
    import threading
    import traceback

    imported = set(sys.modules)
    conn.close()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    atexit._clear()  # the warm process's handlers (its API server) are not the command's
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8",
                                 errors="surrogateescape")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=os.isatty(1),
                                  write_through=not os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    os.chdir(request["cwd"])
    env = _child_env(request["env"], api_url)
    os.environ.clear()
    os.environ.update(env)
    import numpy as np

    _settings_for_child(env, api_url, settings)
    random.seed()
    np.random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()
    sys.argv = ["physforge", *request["argv"]]
    from physforge.cli import app

    code: int
    try:
        app(args=list(request["argv"]), prog_name="physforge")
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - report like the interpreter would, then exit
        traceback.print_exc()
        code = 1
    threading._shutdown()  # as the interpreter would at exit: wait for non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:  # what this command imported, for the warm process to import before the next one
        _modules_file(os.getpid()).write_text("\n".join(sorted(set(sys.modules) - imported)))
    except OSError:
        pass
    return code


# --------------------------------------------------------------------------- management
def running_daemons() -> list[dict[str, Any]]:
    """The warm processes of this user that are alive, with their pid, socket and API."""
    out = []
    for info_path in sorted(daemon_dir().glob("*.json")):
        try:
            info = json.loads(info_path.read_text())
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        info["current"] = info.get("ident") == _identity(dict(os.environ))
        out.append(info)
    return out


def stop_daemons(timeout: float = 10.0) -> list[int]:
    """Stop every warm process of this user (they finish running commands first)."""
    pids = [int(d["pid"]) for d in running_daemons()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    return pids


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        sys.exit("usage: python -m physforge.daemon serve SOCKET")
