"""MINIO_ENDPOINT as MinIO's `host:port` + MINIO_SECURE or as a full URL (storage/endpoint.py), and
the seed's own `.env` form working end to end: settings loaded in a child process, as a server
loads them, then `setup_storage` against the real S3 server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.endpoint import EndpointError, endpoint_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value,secure,url", [
    ("localhost:9000", False, "http://localhost:9000"),
    ("localhost:9000", True, "https://localhost:9000"),
    ("minio.lab.org", True, "https://minio.lab.org"),
    ("[::1]:9000", False, "http://[::1]:9000"),
    ("http://127.0.0.1:8333", None, "http://127.0.0.1:8333"),
    ("https://minio.lab.org:9000/", None, "https://minio.lab.org:9000"),
    ("HTTPS://minio.lab.org", True, "HTTPS://minio.lab.org"),
    ("http://127.0.0.1:8333", False, "http://127.0.0.1:8333"),
    ("https://minio.lab.org", True, "https://minio.lab.org"),
    ("", None, ""),
])
def test_host_port_with_the_tls_flag_and_full_urls_become_urls(value, secure, url):
    assert endpoint_url("MINIO_ENDPOINT", value, secure=secure) == url


@pytest.mark.parametrize("value,secure,says", [
    ("https://minio.lab.org:9000", False, "the URL says TLS, MINIO_SECURE says plain HTTP"),
    ("http://minio.lab.org:9000", True, "the URL says plain HTTP, MINIO_SECURE says TLS"),
])
def test_a_url_that_contradicts_minio_secure_is_refused(value, secure, says):
    with pytest.raises(EndpointError) as refused:
        endpoint_url("MINIO_ENDPOINT", value, secure=secure)
    message = str(refused.value)
    assert f"MINIO_ENDPOINT={value!r} contradicts MINIO_SECURE={secure}" in message
    assert says in message


def test_the_public_endpoint_may_be_tls_where_the_internal_one_is_not():
    assert endpoint_url("MINIO_PUBLIC_ENDPOINT", "https://files.lab.org", secure=False,
                        contradiction_ok=True) == "https://files.lab.org"
    assert endpoint_url("MINIO_PUBLIC_ENDPOINT", "files.lab.org:9000", secure=False,
                        contradiction_ok=True) == "http://files.lab.org:9000"


@pytest.mark.parametrize("value,secure,match", [
    ("localhost:9000", None, "has no scheme: set MINIO_SECURE=true .* or MINIO_SECURE=false"),
    ("ftp://minio:21", None, "the scheme must be http:// or https://"),
    ("localhost:port", False, "expected host:port"),
    ("localhost:99999", False, "expected host:port"),
    ("http://", None, "expected host:port"),
    ("user:pw@minio:9000", False, "expected host:port"),
])
def test_malformed_endpoints_are_named(value, secure, match):
    with pytest.raises(EndpointError, match=match):
        endpoint_url("MINIO_ENDPOINT", value, secure=secure)


CLEAN = ["MINIO_ENDPOINT", "MINIO_PUBLIC_ENDPOINT", "MINIO_SECURE", "DATABASE_URL", "REDIS_URL"]


def start(tmp_path, probe: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CLEAN}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", WES_VAR_DIR=str(tmp_path),
                 DJANGO_DEBUG="true", **env)
    return subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


SETTINGS_PROBE = ("import django; django.setup(); from django.conf import settings as s; "
                  "print(s.MINIO_ENDPOINT, s.MINIO_PUBLIC_ENDPOINT, s.MINIO_SECURE)")


@pytest.mark.parametrize("env,printed", [
    ({"MINIO_ENDPOINT": "localhost:9000", "MINIO_SECURE": "False"},
     "http://localhost:9000 http://localhost:9000 False"),
    ({"MINIO_ENDPOINT": "minio:9000", "MINIO_SECURE": "true",
      "MINIO_PUBLIC_ENDPOINT": "files.lab.org"},
     "https://minio:9000 https://files.lab.org True"),
    ({"MINIO_ENDPOINT": "http://minio:9000", "MINIO_PUBLIC_ENDPOINT": "https://files.lab.org"},
     "http://minio:9000 https://files.lab.org False"),
    ({}, "http://127.0.0.1:8333 http://127.0.0.1:8333 False"),
])
def test_settings_read_both_conventions(tmp_path, env, printed):
    result = start(tmp_path, SETTINGS_PROBE, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed


def test_settings_refuse_a_contradiction_at_start_up(tmp_path):
    result = start(tmp_path, SETTINGS_PROBE, MINIO_ENDPOINT="https://minio:9000",
                   MINIO_SECURE="False")
    assert result.returncode != 0
    assert "ImproperlyConfigured: MINIO_ENDPOINT='https://minio:9000' contradicts " \
           "MINIO_SECURE=False" in result.stderr
    assert "Traceback" in result.stderr and "Invalid endpoint" not in result.stderr


def test_setup_storage_works_with_the_seeds_host_port_form(seaweed, tmp_path):
    """The seed's `.env`: `MINIO_ENDPOINT=127.0.0.1:<port>` and `MINIO_SECURE=False` (before: boto3's
    `ValueError: Invalid endpoint`)."""
    host_port = seaweed.endpoint.removeprefix("http://")
    buckets = {f"MINIO_BUCKET_{role.upper()}": f"{role}-hostport-{os.getpid()}"
               for role in ("raw", "intermediate", "results", "archives", "reference", "logs")}
    probe = ("import django; django.setup(); from django.core.management import call_command; "
             "call_command('setup_storage'); call_command('setup_storage', '--check')")
    result = start(tmp_path, probe, MINIO_ENDPOINT=host_port, MINIO_SECURE="False",
                   MINIO_ACCESS_KEY=seaweed.access_key, MINIO_SECRET_KEY=seaweed.secret_key,
                   **buckets)
    assert result.returncode == 0, result.stderr
    assert "storage ready: 6 buckets" in result.stdout
    assert "no drift: 6 buckets match the configuration" in result.stdout
