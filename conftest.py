"""Shared fixtures: the three personas, the real S3 server, moto, and a browser.

Personas (STYLE.md): a clinician and a manager of lab A, and an outsider who manages lab B.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from tests.helpers import (ARTIFACTS, make_user, mark_mfa_passed,  # noqa: F401 (used by fixtures)
                           BUCKET_SETTINGS, CHROMIUM, CHROMIUM_ARGS, storages_for, unique_buckets)
from storage.seaweed import SeaweedServer



@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """Real hashing costs ~0.2 s per user; tests are about access, not the hash function."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


STORAGE_SETTINGS = [*BUCKET_SETTINGS, "MINIO_ENDPOINT", "MINIO_PUBLIC_ENDPOINT", "STORAGES"]


@pytest.fixture(autouse=True)
def storage_settings_left_as_found():
    """A test ends with the storage settings it started with, or fails here: a later test in the
    process would otherwise sign with another test's endpoint and bucket names."""
    from django.conf import settings

    before = {name: getattr(settings, name) for name in STORAGE_SETTINGS}
    yield
    left = [name for name in STORAGE_SETTINGS if getattr(settings, name) != before[name]]
    assert not left, (f"the test left {', '.join(left)} changed (was {before[left[0]]!r}, now "
                      f"{getattr(settings, left[0])!r}); an override_settings undone before a "
                      "`settings` change made after it restores the override's values")


@pytest.fixture(autouse=True)
def metric_counts_kept_for_later_dropped():
    """Counts a test's storage errors left for the end of a request or task it never ended
    (storage.metric_records.count_soon) are not written into a later test, or at exit."""
    yield
    from storage.metric_records import discard_pending

    discard_pending()


@pytest.fixture(autouse=True)
def force_login_passes_mfa(monkeypatch):
    """`client.force_login(user)` (and so `client_for`) stands for a complete sign-in: for the
    roles that must use two-factor authentication, the session also records the code step, as
    allauth's does. Tests of the MFA requirement itself sign in through the login form."""
    from django.test import Client

    original = Client.force_login

    def force_login(self, user, backend=None):
        from tenants.mfa import mfa_required

        original(self, user, backend)
        if mfa_required(user):
            mark_mfa_passed(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def lab_a(db):
    from tenants.services import lab_create

    return lab_create(slug="lab-a", name="Lab A Genomics")


@pytest.fixture
def lab_b(db):
    from tenants.services import lab_create

    return lab_create(slug="lab-b", name="Lab B Diagnostics")


@pytest.fixture
def manager(lab_a):
    from tenants.services import membership_add

    user = make_user("manager@lab-a.test")
    return membership_add(lab=lab_a, user=user, role="manager")


@pytest.fixture
def clinician(lab_a, manager):
    from tenants.services import membership_add

    user = make_user("clinician@lab-a.test")
    return membership_add(lab=lab_a, user=user, role="clinician")


@pytest.fixture
def outsider(lab_b):
    from tenants.services import membership_add

    user = make_user("outsider@lab-b.test")
    return membership_add(lab=lab_b, user=user, role="manager")


@pytest.fixture
def client_for(client):
    """`client_for(membership)`: the test client signed in as that member."""

    def sign_in(membership_or_user):
        user = getattr(membership_or_user, "user", membership_or_user)
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """A real SeaweedFS (`weed mini`) on free loopback ports for the whole test session."""
    from django.conf import settings

    data_dir = tmp_path_factory.mktemp("seaweedfs")
    server = SeaweedServer(data_dir, settings.MINIO_ACCESS_KEY, settings.MINIO_SECRET_KEY)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def change_for_the_test(settings, **values) -> None:
    """Through pytest-django's `settings`, which undoes its changes in reverse order at the end of
    the test. An override_settings block in a fixture is undone when that fixture ends; if the test
    asked for `settings` first and changed it afterwards, undoing that change then put the
    fixture's values back for every later test (storage_settings_left_as_found)."""
    for name, value in values.items():
        setattr(settings, name, value)


@pytest.fixture
def real_s3(seaweed, settings):
    """Settings pointing at the real S3 server, with bucket names no other test uses."""
    buckets = unique_buckets()
    change_for_the_test(settings, MINIO_ENDPOINT=seaweed.endpoint,
                        MINIO_PUBLIC_ENDPOINT=seaweed.endpoint, MINIO_SECURE=False,
                        STORAGES=storages_for(seaweed.endpoint, buckets), **buckets)
    return seaweed


@pytest.fixture
def provisioned_s3(real_s3):
    """The real S3 server with the portal's buckets and rules in place."""
    from storage import provisioning

    provisioning.apply()
    return real_s3


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 runs queued tasks at once, in this process (as a worker would, minus the queue)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def moto_s3(settings):
    """moto's in-process S3, for fast unit tests of the same code paths."""
    from moto import mock_aws

    buckets = unique_buckets()
    change_for_the_test(settings, MINIO_ENDPOINT="", MINIO_PUBLIC_ENDPOINT="", MINIO_SECURE=True,
                        STORAGES=storages_for("", buckets), **buckets)
    with mock_aws():
        yield


@pytest.fixture
def storage_down(settings):
    """Settings pointing at a loopback port where nothing listens."""
    from storage.seaweed import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    change_for_the_test(settings, MINIO_ENDPOINT=endpoint, MINIO_PUBLIC_ENDPOINT=endpoint,
                        STORAGE_TIMEOUT_SECONDS=1)
    return endpoint




@pytest.fixture(scope="session")
def playwright_driver():
    """One Playwright per test process: its sync API runs an event loop in this thread, and a
    second one started beside it refuses to start. Without Chromium the test is skipped locally
    and fails in CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; scripts/bootstrap installs it")
        pytest.skip("chromium is not installed (run scripts/bootstrap as root)")
    from playwright.sync_api import sync_playwright

    # That loop also makes Django refuse ORM calls from this thread; the tests' ORM calls are
    # plain synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(playwright_driver):
    """Debian's headless Chromium driven by Playwright."""
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def testdata(tmp_path_factory):
    """The simulated exome (reference, targets, annotation, TEST1 read pair), made once."""
    out = tmp_path_factory.mktemp("wes-testdata")
    script = Path(__file__).resolve().parent / "nextflow/testdata/make_testdata.py"
    subprocess.run([sys.executable, str(script), str(out), "--sample", "TEST1"], check=True,
                   capture_output=True)
    return out
