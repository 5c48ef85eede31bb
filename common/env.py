"""Strict readers for settings from the environment.

A value that is present but malformed is an error at start-up, never a silent default: a typo in
`DJANGO_DEBUG=flase` must not quietly turn debugging off (or on).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of {sorted(TRUE_WORDS | FALSE_WORDS)}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """A secret from `NAME`, or from the file named by `NAME_FILE` (Docker/Kubernetes secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        if os.environ.get(name):
            raise ImproperlyConfigured(f"set either {name} or {name}_FILE, not both")
        try:
            with open(file_name, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from None
    return os.environ.get(name, default)


KEY_ID_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def env_cron(name: str, default: str, *, off_allowed: bool = False) -> str:
    """A cron line (five fields, as django-q2's schedules take it), or "off" when allowed."""
    from croniter import croniter

    value = env_str(name, default).strip()
    if off_allowed and value.lower() == "off":
        return "off"
    if not croniter.is_valid(value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a cron line (five fields, e.g. "
                                   f"'30 1 * * *'){' nor off' if off_allowed else ''}")
    return value


RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """"600/minute" -> (600, 60): calls, and the window in seconds."""
    match = RATE.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"not a rate: {text!r} (use e.g. 600/minute)")
    return int(match.group(1)), RATE_PERIODS[match.group(2)]


def env_rate(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        parse_rate(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: use e.g. 600/minute") from None
    return value


def parse_keys(name: str, text: str) -> dict[str, str]:
    """`id:secret` entries separated by commas, spaces or new lines (a `#` starts a comment) as
    {id: secret}, in the order given. Ids are 1-32 letters, digits, `.`, `_` or `-`."""
    keys: dict[str, str] = {}
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    for entry in (e for line in lines for e in re.split(r"[\s,]+", line) if e):
        key_id, sep, secret = entry.partition(":")
        if not sep or not secret:
            raise ImproperlyConfigured(f"{name}: {key_id[:32]!r} has no secret; write each key "
                                       "as id:secret")
        if not KEY_ID_RULE.match(key_id):
            raise ImproperlyConfigured(f"{name}: key id {key_id[:40]!r} is not 1-32 letters, "
                                       "digits, '.', '_' or '-'")
        if key_id in keys:
            raise ImproperlyConfigured(f"{name}: key id {key_id!r} is given twice")
        keys[key_id] = secret
    return keys


def env_keys(name: str, default: str = "") -> dict[str, str]:
    """Named secrets from `NAME` or the file `NAME_FILE` (see `parse_keys`)."""
    return parse_keys(name, env_secret(name, default))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (what a Content-Security-Policy source names)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
