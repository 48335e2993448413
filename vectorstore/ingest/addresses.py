"""Which addresses the loader may fetch from by default: public ones, on ports 80 and 443.

Loopback, private and link-local addresses (the metadata service at 169.254.169.254 among them)
are refused, and so is an IPv4 address carried inside an IPv6 one (mapped, compatible, 6to4,
NAT64). `fetch.py` checks every address a name resolves to, on every hop of a redirect.
"""

from __future__ import annotations

import contextlib
import ipaddress

PORTS = (80, 443)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(host: str, ip: IPAddress, port: int) -> str | None:
    """Why `host` may not be fetched at `ip` on `port` by default, or None when it may."""
    if not _public(ip):
        resolved = "" if _literal(host) == ip else f"{ip}, "  # 2852039166 is 169.254.169.254
        return f"{host} is {resolved}not a public address"
    if port not in PORTS:
        return f"port {port} (only 80 and 443 are fetched)"
    return None


def _public(ip: IPAddress) -> bool:
    """Whether `ip` is on the public internet, as is any IPv4 address it carries."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        # IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), 6to4 and NAT64 addresses
        # reach the IPv4 address inside them.
        inside = ip.ipv4_mapped or ip.sixtofour
        if inside is None and (int(ip) >> 32 == 0 or ip in _NAT64):
            inside = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inside is not None and not _public(inside):
            return False
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> IPAddress | None:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host)
    return None
