"""What stands in front of the Gradio app: the Host and Origin check, no deep links, the login.

Gradio answers any Host header, and for a host that is not localhost it echoes any Origin in
Access-Control-Allow-Origin. So a web page whose name its owner rebinds to 127.0.0.1 (DNS
rebinding) could drive a UI that has no login, and any page could read the answers of one served
on a network address. `HostCheck` answers only to the names the server was started for, and
refuses a request that another site's page sends. It also turns off Gradio's deep links, which
hand anyone who knows a session's hash that session's chat, and records each request's client
for `Logins`, which locks a client out after repeated wrong passwords.

`launch()` in ui.py installs both; docs/ui.md, "Trust model", says what they do and do not stop.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

from ..errors import InvalidSettings
from ..settings import UISettings

log = logging.getLogger("newsqa.ui")

# The client address of the request being served, for the login callable, which Gradio calls
# with the username and password only.
CLIENT: ContextVar[str | None] = ContextVar("newsqa_client", default=None)
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARDS = {"", "0.0.0.0", "::"}


def hostname(value: str | None) -> str | None:
    """The host name of a Host header or an origin ("http://[::1]:7860" -> "::1"), lowercased."""
    if not value:
        return None
    try:
        name = urlsplit(value if "//" in value else "//" + value).hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> set[str]:
    """The host names to answer to: the bound address, the loopback names when it is loopback,
    and `extra` (ui.allowed_hosts). Bound to every interface, also this machine's own names."""
    names = {hostname(h) for h in extra} - {None}
    if bound not in WILDCARDS:
        bound = str(ipaddress.ip_address(bound)) if _is_ip(bound) else hostname(bound) or ""
    if bound in WILDCARDS:
        return names | LOOPBACK_NAMES | {socket.gethostname().lower(), socket.getfqdn().lower()}
    if bound in LOOPBACK_NAMES or (_is_ip(bound) and ipaddress.ip_address(bound).is_loopback):
        names |= LOOPBACK_NAMES
    return names | {bound}


class HostCheck:
    """ASGI middleware: refuse an unknown Host (400), another site's page (403), deep links (404).

    An IP address in the Host is accepted when the server listens on every interface: a page
    cannot rebind a literal address, so it is not a rebinding attack.
    """

    def __init__(self, app, hosts: set[str], any_ip: bool = False) -> None:
        self.app, self.hosts, self.any_ip = app, hosts, any_ip

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await PlainTextResponse(refusal[1], status_code=refusal[0])(scope, receive, send)
            return
        client = scope.get("client")
        token = CLIENT.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            CLIENT.reset(token)

    def refusal(self, scope) -> tuple[int, str] | None:
        """(status, message) for a request not to serve, None for one to serve."""
        headers = Headers(scope=scope)
        host = hostname(headers.get("host"))
        if not host or not (host in self.hosts or (self.any_ip and _is_ip(host))):
            return 400, (
                f"This server does not answer to the host name {host!r}. If that is its name "
                "(behind a reverse proxy, say), add it to ui.allowed_hosts "
                "(NEWSQA_UI__ALLOWED_HOSTS)."
            )
        origin = headers.get("origin")
        if origin is not None and hostname(origin) != host:
            return 403, "Requests from another site's page are refused."
        # Deep links save a session's components (its chat) for anyone who has its hash.
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"].rstrip("/").endswith("/deep_link") or "deep_link" in query:
            return 404, "Deep links are turned off."
        return None

    @classmethod
    def lifespan(cls, hosts: set[str], any_ip: bool = False) -> Callable:
        """A FastAPI lifespan that puts the check around the whole app as it starts.

        Outermost, so nothing of Gradio's runs for a refused request: `add_middleware` would put
        it inside Gradio's CORS middleware, which would still echo the origin on the refusal.
        Starlette builds the middleware stack on its first call (this lifespan's), so it is
        wrapped here, before the server accepts a connection.
        """

        @asynccontextmanager
        async def wrap(app):
            app.middleware_stack = cls(app.middleware_stack, hosts, any_ip)
            yield

        return wrap


class Logins:
    """Gradio's auth callable: USER:PASSWORD pairs, and a lock-out after repeated failures.

    After `attempts` wrong logins from one client within `window` seconds, that client's logins
    are refused, right or wrong, for `lockout` seconds. The client is the request's address
    (`CLIENT`; uvicorn takes it from X-Forwarded-For when the proxy is on 127.0.0.1); with none
    known, failures count per username, so an attacker could then lock a user out for a while.
    """

    def __init__(
        self,
        credentials: Iterable[tuple[str, str]],
        attempts: int = 5,
        window: float = 60.0,
        lockout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credentials = {user: password.encode() for user, password in credentials}
        self.attempts, self.window, self.lockout, self.clock = attempts, window, lockout, clock
        self.failures: dict[str, list[float]] = {}
        self.locked: dict[str, float] = {}  # client -> until when
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        client = CLIENT.get() or f"user {username}"
        now = self.clock()
        with self._lock:
            if self.locked.get(client, now) > now:
                log.debug("login refused: %s is locked out", client)  # logged once, at the lock
                return False
            self.locked.pop(client, None)
            expected = self.credentials.get(username)
            # The same comparison whether or not the user exists: its time says nothing.
            right = hmac.compare_digest(password.encode(), expected or b"\0" * len(password))
            if expected is not None and right:
                self.failures.pop(client, None)
                return True
            recent = [t for t in self.failures.get(client, []) if now - t < self.window]
            self.failures[client] = [*recent, now]
            if len(recent) + 1 >= self.attempts:
                self.locked[client] = now + self.lockout
                del self.failures[client]
                log.warning(
                    "login: %d wrong in %.0f s from %s; refusing its logins for %.0f s",
                    self.attempts,
                    self.window,
                    client,
                    self.lockout,
                )
            self._forget(now)
            return False

    def _forget(self, now: float) -> None:
        """Drop stale records, so that many clients cannot grow them without end."""
        if len(self.failures) + len(self.locked) > 10_000:
            self.failures = {
                c: ts for c, ts in self.failures.items() if ts and now - ts[-1] < self.window
            }
            self.locked = {c: until for c, until in self.locked.items() if until > now}


# --- logins ------------------------------------------------------------------------------------
AUTH_IN_PS = (
    "warning: --auth shows the password to anyone who can list processes (ps); "
    "use --auth-file PATH or NEWSQA_UI__AUTH instead"
)


def login_text(auth: str | None, auth_file: Path | None, settings: UISettings) -> str | None:
    """The USER:PASSWORD line(s) to require: --auth, else --auth-file, else ui.auth
    (NEWSQA_UI__AUTH), else ui.auth_file; None for no login."""
    if auth:
        return auth
    path = auth_file or (None if settings.auth else settings.auth_file)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise InvalidSettings(f"cannot read the login file {path}: {reason}") from exc
    return settings.auth.get_secret_value() if settings.auth else None


def parse_auth(auth) -> list[tuple[str, str]] | Callable | None:
    """ "user:password" lines (# comments) -> [(user, password), ...]; callables pass through."""
    if auth is None or auth == "":
        return None
    if callable(auth):
        return auth
    if isinstance(auth, tuple):
        return [auth]
    if not isinstance(auth, str):
        return list(auth)
    logins = []
    for line in auth.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.strip().partition(":")
        if not (sep and user and password):
            raise InvalidSettings("a login must look like USER:PASSWORD")
        logins.append((user, password))
    if not logins:
        raise InvalidSettings("no USER:PASSWORD login in the login given")
    return logins


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_for(host: str, share: bool, auth, allow_no_auth: bool):
    """The login to require; InvalidSettings for an open server beyond loopback not asked for."""
    credentials = parse_auth(auth)
    if (share or not is_loopback(host)) and credentials is None and not allow_no_auth:
        where = "a public share link" if share else f"host {host}"
        raise InvalidSettings(
            f"refusing to serve {where} without a login: give one (--auth-file PATH, "
            "NEWSQA_UI__AUTH=USER:PASSWORD or --auth USER:PASSWORD), or pass --no-auth if anyone "
            "who can reach it may use it"
        )
    return credentials
