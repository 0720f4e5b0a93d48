"""Outbound request guard: user-supplied URLs may not reach private, link-local or reserved addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from signalhub.core.config import get_settings

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def address_kind(host: str) -> str:
    """Classify a URL host as loopback, internal (private, link-local, reserved) or public (any DNS name)."""
    if host.lower() in _LOOPBACK_NAMES:
        return "loopback"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "public"
    if address.is_loopback:
        return "loopback"
    return "public" if address.is_global else "internal"


class UnresolvableHostError(ValueError):
    """The host does not resolve now (possibly a passing DNS failure: worth retrying a send)."""


def refusal_is_temporary(exc: ValueError) -> bool:
    """Whether a refused destination may work later (DNS failure) rather than never (private address)."""
    return isinstance(exc, UnresolvableHostError)


def blocked_address(address: str, allow_loopback: bool) -> str | None:
    """Why an IP address may not be called (None when it may)."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "private or reserved"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "carrier-grade NAT"
    return None


def assert_public_url(url: str, field: str = "url") -> None:
    """ValueError naming `field` when `url`'s host resolves to an address users must not make us call.

    Loopback is allowed only with ALLOW_LOOPBACK_DESTINATIONS (tests, local development)."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"{field}: has no host")
    allow_loopback = get_settings().allow_loopback_destinations
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnresolvableHostError(f"{field}: host {host!r} does not resolve") from exc
    for info in infos:
        reason = blocked_address(str(info[4][0]), allow_loopback)
        if reason:
            raise ValueError(f"{field}: {host} resolves to a {reason} address, which alerts may not be sent to")
