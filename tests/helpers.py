"""Helpers shared by the test suites (imported by tests and the root conftest.py)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def make_user(email: str, password: str = "correct-horse-battery-staple", **extra):
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=email, email=email, password=password,
                                                **extra)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


# How every browser test starts Debian's Chromium (conftest.py's `chromium`; Playwright's own
# browser download is not available here).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

BUCKET_SETTINGS = ["MINIO_BUCKET_RAW", "MINIO_BUCKET_INTERMEDIATE", "MINIO_BUCKET_RESULTS",
                   "MINIO_BUCKET_ARCHIVES", "MINIO_BUCKET_REFERENCE", "MINIO_BUCKET_LOGS"]
_bucket_suffixes = itertools.count(1)


def unique_buckets() -> dict[str, str]:
    """Bucket-name settings no other test (nor another xdist worker) uses."""
    suffix = f"t{os.getpid()}-{next(_bucket_suffixes)}"
    return {name: f"{name.removeprefix('MINIO_BUCKET_').lower()}-{suffix}"
            for name in BUCKET_SETTINGS}


def storages_for(endpoint: str, buckets: dict[str, str]) -> dict:
    """settings.STORAGES re-pointed at another server and bucket names (django-storages reads
    its options once, from STORAGES, so overriding MINIO_* alone does not reach it)."""
    from django.conf import settings

    roles = {"default": "MINIO_BUCKET_RAW", "raw": "MINIO_BUCKET_RAW",
             "intermediate": "MINIO_BUCKET_INTERMEDIATE", "results": "MINIO_BUCKET_RESULTS",
             "archives": "MINIO_BUCKET_ARCHIVES", "logs": "MINIO_BUCKET_LOGS"}
    result = {}
    for alias, config in settings.STORAGES.items():
        config = {**config, "OPTIONS": dict(config.get("OPTIONS", {}))}
        if alias in roles:
            config["OPTIONS"].update(endpoint_url=endpoint or None, bucket_name=buckets[roles[alias]],
                                     use_ssl=endpoint.startswith("https://") if endpoint else True)
        result[alias] = config
    return result


def screenshot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def child_database_url() -> str:
    """DATABASE_URL of the current test database, for child processes (workers, probes)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def redis_available(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def tamper_with_audit_rows(sql: str, params: list) -> None:
    """What a database owner could do: switch the append-only trigger off, run `sql`, switch it
    back on (the hash chain is what must then notice)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks count as pending trigger events, which block ALTER TABLE.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE tenants_auditevent DISABLE TRIGGER "
                           "tenants_auditevent_no_update_delete")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE tenants_auditevent ENABLE TRIGGER "
                           "tenants_auditevent_no_update_delete")


def browser_page_as(chromium, live_server, client, user, *, width: int = 1400, height: int = 900):
    """A Chromium page already logged in as `user` (the test client's session cookie, handed
    over), for pages whose log-in is not what the test is about."""
    client.force_login(user)
    context = chromium.new_context(viewport={"width": width, "height": height})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context.new_page()


TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def give_totp(user, secret: str = TEST_TOTP_SECRET):
    """The user's authenticator app, set up with a secret the test knows (allauth's own model)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return existing or TOTP.activate(user, secret).instance


def totp_code(secret: str = TEST_TOTP_SECRET, *, offset: int = 0) -> str:
    """The code an authenticator app shows now (`offset` periods later or earlier)."""
    from allauth.mfa.totp.internal.auth import (format_hotp_value, hotp_value,
                                                yield_hotp_counters_from_time)

    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time()) + offset))


def forget_used_totp_codes() -> None:
    """allauth refuses a code already used in its period (replay protection, in the cache); tests
    that sign the same user in twice within 30 seconds start from a clean slate."""
    from django.core.cache import cache

    cache.clear()


def mark_mfa_passed(client, user) -> None:
    """Record in the test client's session that it passed the code step, exactly as allauth's
    sign-in does after a TOTP code (an "mfa" authentication record): what `force_login` alone
    cannot, for the roles that must use two-factor authentication."""
    import time

    from allauth.account.internal.flows.login import (_AUTHENTICATION_METHODS_USER_SESSION_KEY,
                                                      AUTHENTICATION_METHODS_SESSION_KEY)
    from allauth.account.internal.userkit import user_id_to_str
    from allauth.mfa.models import Authenticator

    session = client.session
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    record = {"method": "mfa", "at": time.time(), "type": "totp"}
    if totp is not None:
        record["id"] = totp.pk
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        *session.get(AUTHENTICATION_METHODS_SESSION_KEY, []), record]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = user_id_to_str(user)
    session.save()


def enrol_totp_in_browser(page, shot: str | None = None) -> str:
    """The guided first step of a manager or staff member without an authenticator: read the
    key shown beside the QR code (what the phone app scans), type the app's code, then continue
    from the recovery codes. Returns the secret."""
    import re

    page.wait_for_url(re.compile(r".*/accounts/2fa/totp/activate/$"))
    secret = page.input_value("#authenticator_secret")
    if shot:
        screenshot(page, f"{shot}-1-enrol")
    page.fill("input[name=code]", totp_code(secret))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/2fa/recovery-codes/$"))
    if shot:
        screenshot(page, f"{shot}-2-recovery-codes")
    page.click("[data-mfa-continue]")
    return secret


def enter_totp_code(page, secret: str = TEST_TOTP_SECRET) -> None:
    """After the password of a user with an authenticator app: the code step, typed as the user
    would (replay protection forgotten first, so one test may sign the same user in twice)."""
    import re

    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/$"))
    forget_used_totp_codes()
    page.fill("input[name=code]", totp_code(secret))
    page.click("button[type=submit]")
