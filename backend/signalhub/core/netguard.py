"""Outbound request guard: user-supplied URLs may not reach private, link-local or reserved addresses."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from signalhub.core.config import get_settings
from signalhub.core.http1 import resolve_addresses

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


class BlockedDestinationError(ValueError):
    """The host resolves to an address alerts may never be sent to (private, reserved, or loopback when barred)."""


def check_addresses(host: str, addresses: Iterable[str], field: str = "url") -> list[str]:
    """The host's resolved addresses, or BlockedDestinationError naming `field` when any may not be called."""
    allow_loopback = get_settings().allow_loopback_destinations
    allowed = list(dict.fromkeys(addresses))
    for address in allowed:
        reason = blocked_address(address, allow_loopback)
        if reason:
            raise BlockedDestinationError(
                f"{field}: {host} resolves to a {reason} address, which alerts may not be sent to")
    return allowed


def assert_public_url(url: str, field: str = "url") -> None:
    """ValueError naming `field` when `url`'s host resolves to an address users must not make us call.

    Loopback is allowed only with ALLOW_LOOPBACK_DESTINATIONS (tests, local development)."""
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"{field}: has no host")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnresolvableHostError(f"{field}: host {host!r} does not resolve") from exc
    check_addresses(host, (str(info[4][0]) for info in infos), field)


async def public_addresses(host: str, port: int) -> list[str]:
    """Resolve for an outbound connection: the addresses to connect to, checked as `assert_public_url` checks.

    Used as the connection's own resolver, so DNS cannot change between the check and the connect."""
    try:
        addresses = await resolve_addresses(host, port)
    except socket.gaierror as exc:
        raise UnresolvableHostError(f"url: host {host!r} does not resolve") from exc
    return check_addresses(host, addresses)
