"""The S3 endpoint settings as the portal uses them: always a full URL.

Two conventions meet here. The MinIO client's: `MINIO_ENDPOINT=host:port` with `MINIO_SECURE`
saying whether to use TLS (what a MinIO `.env` holds). boto3's: a full URL,
`http://host:port` or `https://host:port`. Both are accepted; a URL whose scheme contradicts
`MINIO_SECURE` is refused, as is `host:port` without `MINIO_SECURE` (the MinIO client would
assume TLS there, a plain-HTTP server would then fail with a TLS error far from the cause).

No Django here: `portal/settings.py` turns `EndpointError` into a start-up error.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = {"http": False, "https": True}


class EndpointError(ValueError):
    """An endpoint setting that cannot be used; the message names the variables."""


def endpoint_url(name: str, value: str, *, secure: bool | None,
                 secure_name: str = "MINIO_SECURE", contradiction_ok: bool = False) -> str:
    """`value` of the variable `name` as `scheme://host[:port][/path]`.

    `secure` is the TLS flag when it was set (None when not); `host:port` takes its scheme from
    it. `contradiction_ok` lets a full URL differ from the flag (the public endpoint: browsers may
    reach storage through a TLS proxy while the portal talks to it in plain HTTP). An empty value
    stays empty (the client's default endpoint, AWS's)."""
    value = value.strip()
    if not value:
        return ""
    flag = f"{secure_name}={'True' if secure else 'False'}"
    if "://" in value:
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise EndpointError(f"{name}={value!r}: the scheme must be http:// or https://")
        _check_host(name, value, parts.netloc)
        if secure is not None and secure != SCHEMES[scheme] and not contradiction_ok:
            wanted = "https://" if secure else "http://"
            raise EndpointError(
                f"{name}={value!r} contradicts {flag}: the URL says "
                f"{'TLS' if SCHEMES[scheme] else 'plain HTTP'}, {secure_name} says "
                f"{'TLS' if secure else 'plain HTTP'}. Write {name} as {wanted}{parts.netloc} "
                f"or as {parts.netloc} with {secure_name}, or drop {secure_name}")
        return value.rstrip("/")
    if secure is None:
        raise EndpointError(
            f"{name}={value!r} has no scheme: set {secure_name}=true (TLS) or "
            f"{secure_name}=false (plain HTTP), or write the full URL "
            f"(https://{value} or http://{value})")
    _check_host(name, value, value.split("/", 1)[0])
    return f"{'https' if secure else 'http'}://{value}".rstrip("/")


def _check_host(name: str, value: str, netloc: str) -> None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if parts is None or not parts.hostname or port == -1 or "@" in netloc:
        raise EndpointError(f"{name}={value!r}: expected host:port or http(s)://host:port")
