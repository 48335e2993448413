"""A local HTTP server for tests: canned responses on 127.0.0.1, served from a thread.

    with LocalServer({"/a": (200, {"Content-Type": "text/html"}, "<html>...</html>")}) as server:
        httpx.get(server.url("/a"))

Besides the given routes it serves `/loop` (redirects to itself forever), `/slow` (answers only
after `slow_seconds`), `/error` (HTTP 500), `/trickle` (sends its headers a byte every 0.1 s for
`slow_seconds`) and `/hangup` (closes the connection without an answer); these match with any
query string (`/slow?n=2`), so a test can have many distinct URLs of one kind. Any other path is
a 404. A route is sent with its Content-Length unless it has one, or a Transfer-Encoding (then its
body must be framed so: see `chunked`). A route with an ETag answers 304, with no body, to a GET
whose If-None-Match names it.
"""

from __future__ import annotations

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = tuple[int, dict[str, str], bytes | str]


class LocalServer:
    """A ThreadingHTTPServer on a free port of 127.0.0.1 that serves `routes` (path -> route).

    With `tls` (a server-side SSLContext) it speaks https.
    """

    def __init__(
        self,
        routes: dict[str, Route] | None = None,
        *,
        slow_seconds: float = 5.0,
        tls: ssl.SSLContext | None = None,
    ):
        self.routes: dict[str, Route] = dict(routes or {})
        self.slow_seconds = slow_seconds
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, headers) of each request
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # do not wait for a /slow request on the way out
        self.scheme = "https" if tls else "http"
        if tls:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def respond(self, path: str) -> Route:
        """The response for `path`: a special route, a given one, or a 404."""
        path = self.special(path)
        if path == "/loop":
            return 302, {"Location": "/loop"}, b""
        if path == "/error":
            return 500, {"Content-Type": "text/plain"}, b"internal error"
        if path == "/slow":
            self._stopping.wait(self.slow_seconds)
            return 200, {"Content-Type": "text/plain"}, b"too late"
        return self.routes.get(path, (404, {"Content-Type": "text/plain"}, b"not found"))

    def special(self, path: str) -> str:
        """`path` without its query string, unless a given route has it as it is."""
        return path if path in self.routes else path.split("?", 1)[0]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def chunked(data: bytes, size: int = 1 << 16) -> bytes:
    """`data` framed as `Transfer-Encoding: chunked`: sent with no length given beforehand."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            server.requests.append((self.path, dict(self.headers)))
            special = server.special(self.path)
            if special == "/hangup":
                self.close_connection = True
                return
            if special == "/trickle":
                self.trickle()
                return
            status, headers, body = server.respond(self.path)
            data = body.encode("utf-8") if isinstance(body, str) else body
            etag = headers.get("ETag")
            if etag and self.headers.get("If-None-Match") == etag:
                status, data = 304, b""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                framed = ("content-length", "transfer-encoding")  # a chunked body is framed
                if not any(name.lower() in framed for name in headers):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as the timeout tests make it do

        def trickle(self) -> None:
            """A status line, then a header a byte at a time until `slow_seconds` have passed."""
            end = time.monotonic() + server.slow_seconds
            try:
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                while time.monotonic() < end and not server._stopping.wait(0.1):
                    self.wfile.write(b"a")
                    self.wfile.flush()
                self.wfile.write(b"\r\nContent-Type: text/plain\r\n\r\ntoo late")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as it should

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Handler
