"""What stands in front of the Gradio app: the Host and Origin check, and no deep links.

Gradio answers any Host header, and for a host that is not localhost it echoes any Origin in
Access-Control-Allow-Origin. So a web page whose name its owner rebinds to 127.0.0.1 (DNS
rebinding) could drive a UI that has no login, and any page could read the answers of one served
on a network address. `HostCheck` answers only to the names the server was started for, and
refuses a request that another site's page sends. It also turns off Gradio's deep links, which
hand anyone who knows a session's hash that session's chat.

`launch()` in ui.py installs it; docs/ui.md, "Trust model", says what it does and does not stop.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

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
        await self.app(scope, receive, send)

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
