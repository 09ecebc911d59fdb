"""A small real HTTP server for tests and the demo.

`SiteServer` runs `http.server.ThreadingHTTPServer` in a daemon thread on 127.0.0.1 and a
free port. It serves a table of routes: a path maps to a fixed `Resource` (with ETag and
Last-Modified, so conditional GETs get 304) or to a `Handler`, a function of the request
that returns a `Resource` — for slow, failing, counting or redirecting pages::

    with SiteServer({"/feed.xml": Resource(rss, "application/rss+xml")}) as site:
        site.add("/slow", lambda req: (time.sleep(2), Resource(b"late"))[1])
        site.add("/flaky", lambda req: Resource(b"", status=503) if req.count < 3
                 else Resource(b"ok"))
        httpx.get(site.url("/feed.xml"))
        assert site.count("/feed.xml") == 1

Routing tries the path with its query string first, then without it, so
`/a.html?utm_source=x` serves `/a.html`. Every request is recorded in `requests`.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = [
    "ConnectionAbort",
    "Handler",
    "Headers",
    "RequestInfo",
    "RequestLog",
    "Resource",
    "SiteServer",
]


class ConnectionAbort(Exception):
    """Raised by a `Handler` to drop the connection without sending any response."""


class Headers(dict[str, str]):
    """Request headers; lookups ignore case (`h["user-agent"] == h["User-Agent"]`)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class Resource:
    """One answer the server gives."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"  # sent verbatim; "" → no Content-Type
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    last_modified: datetime | None = None  # Last-Modified; If-Modified-Since → 304
    etag: bool = True  # strong ETag from sha1(body); If-None-Match → 304

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest() + '"'


@dataclass(frozen=True)
class RequestInfo:
    """What a `Handler` is told about the request it answers."""

    method: str
    path: str  # with the query string
    headers: Headers
    count: int  # how many times this route has been requested, this one included (from 1)
    body: bytes = b""


Handler = Callable[[RequestInfo], Resource]


@dataclass(frozen=True)
class RequestLog:
    """One request the server received; `status` 0 means the connection was dropped."""

    method: str
    path: str
    status: int
    headers: Headers
    at: datetime


def _not_found(path: str) -> Resource:
    body = f"<!DOCTYPE html><html><head><title>404 Not Found</title></head>" \
           f"<body><h1>Not Found</h1><p>No page at {_escape(path)}</p></body></html>"
    return Resource(body.encode("utf-8"), etag=False, status=404)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _http_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _not_modified(resource: Resource, headers: Headers) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since."""
    if resource.status != 200:
        return False
    inm = headers.get("if-none-match")
    if inm is not None:
        if not resource.etag:
            return False
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or resource.etag_value in tags
    ims = headers.get("if-modified-since")
    if ims and resource.last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        modified = resource.last_modified
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=UTC)
        return modified.replace(microsecond=0) <= since
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    site: SiteServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients hanging up mid-response are normal in tests."""


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "tidings-demo/1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging to stderr."""

    def setup(self) -> None:
        super().setup()
        self.server.site._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.site._track(self.connection, add=False)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        site = self.server.site
        headers = Headers({k: v for k, v in self.headers.items()})
        length = int(headers.get("content-length") or 0)
        body_in = self.rfile.read(length) if length > 0 else b""
        route, target = site._lookup(self.path)
        count = site._bump(route if target is not None else self.path)
        info = RequestInfo(self.command, self.path, headers, count, body_in)
        if target is None:
            resource = _not_found(self.path)
        elif isinstance(target, Resource):
            resource = target
            if self.command not in ("GET", "HEAD"):
                resource = Resource(b"Method Not Allowed", "text/plain; charset=utf-8",
                                    status=405, headers={"Allow": "GET, HEAD"}, etag=False)
        else:
            try:
                resource = target(info)
            except ConnectionAbort:
                site._log(RequestLog(self.command, self.path, 0, headers, datetime.now(UTC)))
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            except Exception as exc:  # noqa: BLE001 - a broken handler is a 500, not a dead server
                text = f"handler failed: {type(exc).__name__}: {exc}"
                resource = Resource(text.encode("utf-8"), "text/plain; charset=utf-8",
                                    status=500, etag=False)
        status = 304 if self.command in ("GET", "HEAD") and _not_modified(resource, headers) \
            else resource.status
        # Logged before answering: once a client has its response, the log shows it.
        site._log(RequestLog(self.command, self.path, status, headers, datetime.now(UTC)))
        self._respond(resource, status)

    def _respond(self, resource: Resource, status: int) -> None:
        self.send_response(status)
        if resource.content_type and status != 304:
            self.send_header("Content-Type", resource.content_type)
        if resource.etag:
            self.send_header("ETag", resource.etag_value)
        if resource.last_modified is not None:
            self.send_header("Last-Modified", _http_date(resource.last_modified))
        for name, value in resource.headers.items():
            self.send_header(name, value)
        body = b"" if status == 304 or status < 200 or status == 204 else resource.body
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True


class SiteServer:
    """A real HTTP server on 127.0.0.1 serving `routes` from a daemon thread."""

    def __init__(self, routes: dict[str, Resource | Handler] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[RequestLog] = []
        self._routes: dict[str, Resource | Handler] = dict(routes or {})
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _RequestHandler)
        server.site = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"SiteServer:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # idle keep-alive connections would linger
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`; the server must have been started."""
        if self._server is None:
            raise RuntimeError("SiteServer is not started: call start() or use it in `with`")
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + ("" if path.startswith("/") else "/") + path

    # -- routes -----------------------------------------------------------------------------

    def add(self, path: str, resource: Resource | Handler) -> None:
        """Serve `resource` at `path` (replacing what was there); safe while running."""
        with self._lock:
            self._routes[path] = resource

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return list(self._routes)

    def count(self, path: str) -> int:
        """Requests received for `path`: with a query string, exactly that; without, the path
        with any query string (so `count("/a.html")` includes `/a.html?utm_source=x`)."""
        with self._lock:
            logged = list(self.requests)
        if "?" in path:
            return sum(1 for r in logged if r.path == path)
        return sum(1 for r in logged if r.path.split("?", 1)[0] == path)

    def requests_for(self, path: str) -> Iterator[RequestLog]:
        with self._lock:
            logged = list(self.requests)
        return (r for r in logged if r.path.split("?", 1)[0] == path.split("?", 1)[0])

    # -- used by the request handler --------------------------------------------------------

    def _lookup(self, raw_path: str) -> tuple[str, Resource | Handler | None]:
        with self._lock:
            if raw_path in self._routes:
                return raw_path, self._routes[raw_path]
            bare = raw_path.split("?", 1)[0]
            return bare, self._routes.get(bare)

    def _bump(self, key: str) -> int:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def _log(self, entry: RequestLog) -> None:
        with self._lock:
            self.requests.append(entry)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
