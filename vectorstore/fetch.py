"""http(s) downloads for the loader, within a time and a size limit; each failure is a BadInput."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

import httpx

from .formats import BadInput

USER_AGENT = "newsqa/0.1"
MAX_REDIRECTS = 5


@dataclass
class Page:
    data: bytes
    content_type: str
    charset: str | None


class Fetcher:
    """GETs pages for one `load_sources` call, with one client made on first use."""

    def __init__(self, timeout: float, max_bytes: int, client: httpx.Client | None) -> None:
        self.timeout, self.max_bytes = timeout, max_bytes
        self._client, self._own_client = client, client is None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:  # made on first use: files alone need none
            self._client = httpx.Client(
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()

    def fetch(self, url: str) -> Page:
        """GET `url` within the time and size limits; every way that fails raises BadInput."""
        deadline = _Deadline(self.timeout)
        try:
            with self.client.stream(
                "GET",
                url,
                timeout=self.timeout,
                follow_redirects=True,
                headers={"Connection": "close"},  # a new connection each time, for _Deadline
                extensions={"trace": deadline.trace},
            ) as response:
                if not response.is_success:
                    raise BadInput(f"HTTP {response.status_code} from server")
                data = self.body(response)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            expired = deadline.expired or isinstance(exc, httpx.TimeoutException)
            reason = f"timed out after {self.timeout:g} s" if expired else _http_reason(exc)
            raise BadInput(reason) from exc
        finally:
            deadline.cancel()
        if not data.strip():
            raise BadInput("empty response")
        content_type = response.headers.get("content-type", "").lower()
        return Page(data, content_type, response.charset_encoding)

    def body(self, response: httpx.Response) -> bytes:
        """The response's bytes, given up once past `max_bytes` or `timeout`."""
        deadline, limit = time.monotonic() + self.timeout, size(self.max_bytes, short=True)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise BadInput(f"page is {size(int(length))}, over the {limit} limit")
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            total += len(chunk)
            if total > self.max_bytes:
                raise BadInput(f"page is over the {limit} limit")
            if time.monotonic() > deadline:  # a server that trickles its answer
                raise httpx.ReadTimeout("too slow", request=response.request)
        return b"".join(chunks)


class _Deadline:
    """Ends a download at its deadline, however slowly the server sends (headers included).

    httpx's timeout bounds each read, so a server sending a byte a second never trips it; at the
    deadline this shuts the request's sockets, which ends the read in progress.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict) -> None:
        """httpx's `trace` extension: note each socket the request connects."""
        stream = info.get("return_value") if event == "connection.connect_tcp.complete" else None
        if stream is not None and (sock := stream.get_extra_info("socket")):
            self._sockets.append(sock)

    def _expire(self) -> None:
        self.expired = True
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _http_reason(exc: Exception) -> str:
    """What went wrong with a download, in words."""
    message = str(exc).lower()
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, httpx.ConnectError) and "refused" in message:
        return "connection refused (is the server running?)"
    if isinstance(exc, httpx.ConnectError) and ("not known" in message or "servname" in message):
        return "host not found"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return f"not a valid URL ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server's response was cut short or malformed ({exc})"
    if isinstance(exc, httpx.DecodingError):
        return f"the server's compressed response could not be decompressed ({exc})"
    return f"download failed ({type(exc).__name__}: {exc})"


def size(n: int, *, short: bool = False) -> str:
    """25_000_000 -> '25.0 MB'; with `short`, 20_000_000 -> '20 MB'."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if n >= scale:
            number = f"{n / scale:.1f}"
            return f"{number.removesuffix('.0') if short else number} {unit}"
    return f"{n} bytes"
