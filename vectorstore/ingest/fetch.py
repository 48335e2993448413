"""http(s) downloads for the loader, within a time and a size limit; each failure is a BadInput.

Whoever types a URL into the UI, or writes a feed, chooses what the server fetches, and what it
fetches becomes an article that answers quote. So by default only public addresses are fetched,
on ports 80 and 443: each hop of a redirect has its host resolved once, every address checked
(loopback, private, link-local such as the metadata service at 169.254.169.254, and IPv4 hidden in
IPv6), and the request is sent to the checked address with the name kept as its Host and TLS name,
so a name that resolves elsewhere the second time (DNS rebinding) is never looked up again.
`allow_private` lifts both rules for people who ingest from their own network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from ..errors import BadInput
from .addresses import IPAddress, refusal

USER_AGENT = "newsqa/0.1"
MAX_REDIRECTS = 5
# What a UI user sees for every network failure: refused, not found, blocked and timed out alike
# would otherwise tell which addresses and ports answer, a port scanner.
UNREACHABLE = (
    "could not fetch it: the server did not answer, or the address is not a public web address "
    "(http or https on port 80 or 443)"
)
_ALLOW = "to fetch from your own network, set store.allow_private_urls (--allow-private-urls)"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Content-Encodings undone here, as zlib's wbits; all a request says it accepts.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_ACCEPT_ENCODING = "gzip, deflate"
_PIECE = 1 << 16  # decoded bytes made at a time: the size limit is checked every 64 KB


@dataclass
class Page:
    data: bytes
    content_type: str
    charset: str | None
    url: str  # where it was fetched from, after any redirects
    etag: str = ""  # the validators a conditional GET sends back (vectorstore/watch.py)
    last_modified: str = ""
    not_modified: bool = False  # a 304 to a conditional GET: `data` is empty


class _Unreachable(BadInput):
    """A failure of the network or of the address rules: nothing a server chose to answer."""


class Fetcher:
    """GETs pages for one `load_sources` call, with one client made on first use.

    Args:
        allow_private: fetch from any address and port, not only public ones on 80 and 443.
        uniform_errors: give every network failure the one reason `UNREACHABLE` (for the UI).
        deadline: seconds from now after which no fetch starts, and a running one is ended.
    """

    def __init__(
        self,
        timeout: float,
        max_bytes: int,
        client: httpx.Client | None,
        *,
        allow_private: bool = False,
        uniform_errors: bool = False,
        deadline: float | None = None,
    ) -> None:
        self.timeout, self.max_bytes = timeout, max_bytes
        self.allow_private, self.uniform_errors = allow_private, uniform_errors
        self.deadline = deadline
        self._stop_at = None if deadline is None else time.monotonic() + deadline
        self._client, self._own_client = client, client is None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:  # made on first use: files alone need none
            self._client = httpx.Client(
                headers={"User-Agent": USER_AGENT},
                # A transport of its own makes httpx ignore HTTP(S)_PROXY: a proxy would connect
                # by name, and its tunnel sends the address, not the name, as the TLS name.
                transport=None if self.allow_private else httpx.HTTPTransport(),
            )
        return self._client

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()

    def fetch(self, url: str, *, etag: str = "", last_modified: str = "") -> Page:
        """GET `url` within the time and size limits; every way that fails raises BadInput.

        With `etag` or `last_modified` (a Page's, from an earlier fetch) the GET is conditional:
        a server with nothing new answers 304, and the Page says `not_modified`.
        """
        seconds = self.timeout
        if self._stop_at is not None:
            seconds = min(seconds, self._stop_at - time.monotonic())
            if seconds <= 0:
                raise BadInput(f"skipped: the ingestion reached its {self.deadline:g} s limit")
        deadline = _Deadline(seconds)
        try:
            conditional = {"If-None-Match": etag} if etag else {}
            if last_modified:
                conditional["If-Modified-Since"] = last_modified
            return self._follow(httpx.URL(url), deadline, conditional)
        except httpx.InvalidURL as exc:
            raise BadInput(f"not a valid URL ({exc})") from exc
        except _Unreachable as exc:
            if deadline.expired and seconds < self.timeout:  # ended by the ingestion's limit
                reason = f"stopped: the ingestion reached its {self.deadline:g} s limit"
                raise BadInput(reason) from exc
            if self.uniform_errors:
                raise BadInput(UNREACHABLE) from exc
            raise
        finally:
            deadline.cancel()

    def _follow(self, url: httpx.URL, deadline: _Deadline, conditional: dict[str, str]) -> Page:
        """GET `url`, following redirects one hop at a time, each hop checked before it is sent."""
        for _ in range(MAX_REDIRECTS + 1):
            target, headers, extensions = self._pinned(url)
            try:
                with self.client.stream(
                    "GET",
                    target,
                    timeout=deadline.seconds,
                    follow_redirects=False,
                    # A new connection each time, for _Deadline (and so none is shared by names).
                    headers={
                        **headers,
                        **conditional,
                        "Connection": "close",
                        "Accept-Encoding": _ACCEPT_ENCODING,  # (httpx would add br and zstd)
                    },
                    extensions={**extensions, "trace": deadline.trace},
                ) as response:
                    if response.status_code == 304 and conditional:  # (httpx: a "redirect")
                        return Page(b"", "", None, str(url), *_validators(response), True)
                    if response.is_redirect and "location" in response.headers:
                        url = _redirect(url, response.headers["location"])
                        continue
                    if not response.is_success:
                        raise BadInput(f"HTTP {response.status_code} from server")
                    data = self.body(response, deadline.seconds)
            except httpx.HTTPError as exc:
                if isinstance(exc, httpx.TimeoutException):
                    deadline.expired = True  # httpx's own timeout came first: expired all the same
                if deadline.expired:
                    raise _Unreachable(f"timed out after {deadline.seconds:g} s") from exc
                raise _http_error(exc) from exc
            if not data.strip():
                raise BadInput("empty response")
            content_type = response.headers.get("content-type", "").lower()
            charset = response.charset_encoding
            return Page(data, content_type, charset, str(url), *_validators(response))
        raise BadInput("too many redirects")

    def _pinned(self, url: httpx.URL) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
        """(URL, headers, extensions) that send a request for `url` to an address checked once.

        Raises _Unreachable when the host has no address the rules allow.
        """
        if self.allow_private:
            return url, {}, {}
        host = url.raw_host.decode("ascii")
        if not host:
            raise BadInput("not a valid URL (no host)")
        port = url.port or _DEFAULT_PORTS[url.scheme]
        reasons = []
        for ip in _resolve(host, port):
            if (why := refusal(host, ip, port)) is None:
                host_header = url.netloc.decode("ascii")
                return url.copy_with(host=str(ip)), {"Host": host_header}, {"sni_hostname": host}
            reasons.append(why)
        raise _Unreachable(f"refused: {reasons[0]}; {_ALLOW}")

    def body(self, response: httpx.Response, seconds: float) -> bytes:
        """The response's bytes, decoded, given up once past `max_bytes` or `seconds`.

        Both the bytes received and the bytes decoded count against `max_bytes`: 49 KB of gzip
        can decode to 50 MB, which httpx would decode whole, a received chunk at a time.
        """
        deadline, limit = time.monotonic() + seconds, size(self.max_bytes, short=True)
        decoder = _Decoder(response.headers.get("content-encoding", ""))
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise BadInput(f"page is {size(int(length))}, over the {limit} limit")
        chunks, received, total = [], 0, 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > self.max_bytes:
                raise BadInput(f"page is over the {limit} limit")
            for piece in decoder.decode(chunk):
                total += len(piece)
                if total > self.max_bytes:
                    raise BadInput(f"page is over the {limit} limit once decompressed")
                chunks.append(piece)
            if decoder.done:  # anything sent after the compressed data ends is not read
                break
            if time.monotonic() > deadline:  # a server that trickles its answer
                raise httpx.ReadTimeout("too slow", request=response.request)
        return b"".join(chunks)


class _Decoder:
    """Undoes a response's Content-Encoding (gzip, deflate or none), `_PIECE` bytes at a time.

    A stacked encoding (`gzip, gzip`) or one not undone here (br, zstd, ...) raises BadInput: no
    page needs two, and the request asked for gzip or deflate only.
    """

    def __init__(self, header: str) -> None:
        codings = [c.strip().lower() for c in header.split(",")]
        codings = [c for c in codings if c not in ("", "identity")]
        if len(codings) > 1:
            raise BadInput(
                f"compressed more than once (Content-Encoding: {header.strip()}); a page is read "
                "only if compressed once, with gzip or deflate"
            )
        if codings and codings[0] not in _WBITS:
            raise BadInput(
                f"compressed with {codings[0]!r}, which is not read; only gzip and deflate are"
            )
        self.coding = codings[0] if codings else None
        self._zlib = zlib.decompressobj(_WBITS[self.coding]) if self.coding else None
        self._started = False

    @property
    def done(self) -> bool:
        """Whether the compressed data has ended."""
        return self._zlib is not None and self._zlib.eof

    def decode(self, data: bytes) -> Iterator[bytes]:
        """`data` decoded, in pieces of at most `_PIECE` bytes (received data as it is)."""
        if self._zlib is None:
            yield data
            return
        while data and not self._zlib.eof:
            try:
                piece = self._zlib.decompress(data, _PIECE)  # the rest waits in unconsumed_tail
            except zlib.error as exc:
                if self.coding == "deflate" and not self._started:
                    # Some servers send deflate without the zlib header that HTTP's has.
                    self._zlib, self._started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise BadInput(
                    f"the server's compressed response could not be decompressed ({exc})"
                ) from exc
            self._started = True
            yield piece
            data = self._zlib.unconsumed_tail


class _Deadline:
    """Ends a download at its deadline, however slowly the server sends (headers included).

    httpx's timeout bounds each read, so a server sending a byte a second never trips it; at the
    deadline this shuts the request's sockets, which ends the read in progress.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired = seconds, False
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


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Each address of `host`, once; an address in any form (2852039166, 0x7f.1) is its own."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _Unreachable("host not found") from exc
    families = (socket.AF_INET, socket.AF_INET6)
    addresses = [ipaddress.ip_address(f[4][0]) for f in found if f[0] in families]
    if not addresses:
        raise _Unreachable("host not found")
    return list(dict.fromkeys(addresses))


def _validators(response: httpx.Response) -> tuple[str, str]:
    """(ETag, Last-Modified), each capped: they are stored and sent back on the next GET."""
    return tuple(response.headers.get(name, "")[:200] for name in ("etag", "last-modified"))


def _redirect(url: httpx.URL, location: str) -> httpx.URL:
    """The URL a redirect's Location points to, from `url`."""
    target = url.join(location)  # httpx.InvalidURL for a Location that is not one
    if target.scheme not in _DEFAULT_PORTS:
        raise BadInput(f"redirected to an unsupported URL scheme {target.scheme!r}")
    return target


def _http_error(exc: httpx.HTTPError) -> BadInput:
    """What went wrong with a download, in words; a network failure as _Unreachable."""
    message = str(exc).lower()
    if isinstance(exc, httpx.UnsupportedProtocol):
        return BadInput(f"not a valid URL ({exc})")
    if isinstance(exc, httpx.ConnectError) and "refused" in message:
        return _Unreachable("connection refused (is the server running?)")
    if isinstance(exc, httpx.ConnectError) and ("not known" in message or "servname" in message):
        return _Unreachable("host not found")
    if isinstance(exc, httpx.RemoteProtocolError):
        return _Unreachable(f"the server's response was cut short or malformed ({exc})")
    if isinstance(exc, httpx.TransportError):
        return _Unreachable(f"download failed ({type(exc).__name__}: {exc})")
    return BadInput(f"download failed ({type(exc).__name__}: {exc})")


def size(n: int, *, short: bool = False) -> str:
    """25_000_000 -> '25.0 MB'; with `short`, 20_000_000 -> '20 MB'."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if n >= scale:
            number = f"{n / scale:.1f}"
            return f"{number.removesuffix('.0') if short else number} {unit}"
    return f"{n} bytes"
