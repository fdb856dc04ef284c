"""A fault-injecting HTTP reverse proxy for S3-compatible servers (moto, MinIO) in tests.

:class:`FaultyProxy` listens on loopback and forwards every request to ``upstream``; for a
share of requests, drawn with a seeded RNG, it answers with a fault instead:

``500``
    ``InternalError``, the request never reaches the server.
``503``
    ``ServiceUnavailable``, the request never reaches the server.
``slowdown``
    ``503 SlowDown``, S3's request-rate throttle.
``drop``
    the connection is closed without an answer; the request never reaches the server.
``drop_after``
    the request reaches the server and is carried out, then the connection is closed
    without its answer (the client cannot know whether the write happened).

Point ``PHYSFORGE_S3_ENDPOINT`` at :attr:`FaultyProxy.endpoint`. Counts of forwarded and
faulted requests are in :attr:`FaultyProxy.stats`.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["FAULTS", "FaultyProxy"]

FAULTS = ("500", "503", "slowdown", "drop", "drop_after")

_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
}
# hop-by-hop headers are the proxy's own business (RFC 9110 7.6.1)
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - quiet: one line per request
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _fault(self, kind: str) -> None:
        if kind in ("drop", "drop_after"):
            self.close_connection = True  # no status line, no headers: the peer sees EOF
            return
        status, code, message = _ERRORS[kind]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>faultyproxy</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if kind == "slowdown":
            self.send_header("Retry-After", "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(
            self.server.upstream_host, self.server.upstream_port, timeout=60
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.getheaders(), data
        finally:
            conn.close()

    def _handle(self) -> None:
        body = self._body()
        kind = self.server.draw()
        if kind is not None and kind != "drop_after":
            self._fault(kind)
            return
        status, reason, headers, data = self._forward(body)
        if kind == "drop_after":
            self._fault(kind)
            return
        self.send_response(status, reason)
        for k, v in headers:
            if k.lower() not in _HOP and k.lower() != "content-length":
                self.send_header(k, v)
        length = dict((k.lower(), v) for k, v in headers).get("content-length")
        self.send_header(
            "Content-Length", length if self.command == "HEAD" and length else str(len(data))
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str, rate: float, faults: tuple[str, ...], seed: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        url = urlsplit(upstream)
        self.upstream_host, self.upstream_port = url.hostname or "127.0.0.1", url.port or 80
        self.rate, self.faults = rate, faults
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    def draw(self) -> str | None:
        with self.lock:
            self.stats["requests"] += 1
            if self.rate and self.rng.random() < self.rate:
                kind = self.rng.choice(self.faults)
                self.stats[kind] += 1
                return kind
            self.stats["forwarded"] += 1
            return None


class FaultyProxy:
    """A reverse proxy on ``127.0.0.1:<free port>`` that injects S3 faults.

    Parameters
    ----------
    upstream : str
        ``http://host:port`` of the real server.
    rate : float
        Share of requests answered with a fault (0 forwards everything).
    faults : tuple of str
        Which faults to draw from (see :data:`FAULTS`), uniformly.
    seed : int
        Seed of the RNG that picks the faulted requests and their kind.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self, upstream: str, rate: float = 0.2, faults: tuple[str, ...] = FAULTS, seed: int = 0
    ):
        unknown = set(faults) - set(FAULTS)
        if unknown or not faults or not 0.0 <= rate < 1.0:
            raise ValueError(
                f"faults must be among {FAULTS} and 0 <= rate < 1; got "
                f"faults={faults!r}, rate={rate!r}"
            )
        self._server = _Server(upstream, rate, tuple(faults), seed)
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    @property
    def stats(self) -> Counter[str]:
        """``requests``, ``forwarded`` and one count per fault kind injected."""
        return self._server.stats

    @property
    def rate(self) -> float:
        """Share of requests faulted from now on (0 turns faults off)."""
        return self._server.rate

    @rate.setter
    def rate(self, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"rate must be in [0, 1); got {value!r}")
        self._server.rate = value

    def start(self) -> FaultyProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="faulty-proxy"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
