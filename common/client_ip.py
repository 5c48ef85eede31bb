"""The client's address, the one rule for everything that records or limits by IP (sign-in rate
limits, the audit log, the sessions page).

Behind `TRUSTED_PROXY_HOPS` proxies that each append the address they saw to X-Forwarded-For,
the client is the entry that many places from the right; anything further left was written by
the client itself and is ignored. With no trusted proxy (the default) the header is ignored and
the peer address is the client."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _valid(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    if request is None:
        return None
    hops = settings.TRUSTED_PROXY_HOPS
    if hops:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                     if part.strip()]
        if len(forwarded) >= hops:
            address = _valid(forwarded[-hops])
            if address:
                return address
    # No trusted proxy, or a request that did not come through it (nothing appended).
    return _valid(request.META.get("REMOTE_ADDR", "")) or None
