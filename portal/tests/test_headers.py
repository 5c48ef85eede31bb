"""Security headers: no cached copies of signed-in pages, the Content-Security-Policy, HSTS and
the HTTPS redirect from the environment, and a clean `check --deploy` in production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DJANGO_DEBUG": "false",
              "DJANGO_SECRET_KEY": "Vq3-8xZr!pL0m#Tn2Ws7@Yb5Kd9&Hf4Jc6%Ge1Ua0Ri8Qo3Pe7Nw2Mv5Lt9Ks",
              "MINIO_ACCESS_KEY": "portal", "MINIO_SECRET_KEY": "a-real-storage-secret",
              "DJANGO_ALLOWED_HOSTS": "wes.example.org",
              "WES_AUDIT_KEYS": "k2026:an-audit-chain-key-of-at-least-32-characters"}


def check_deploy(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "MINIO_", "WES_")) and not k.endswith("_FILE")}
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", WES_VAR_DIR=str(tmp_path),
                 **PRODUCTION, **env)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level",
                           "WARNING"], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean_in_production(tmp_path):
    result = check_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_hsts_and_the_https_redirect_are_set_from_the_environment(tmp_path):
    result = check_deploy(tmp_path, DJANGO_HSTS_SECONDS="0", DJANGO_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


@pytest.mark.django_db
def test_signed_in_pages_are_never_stored_and_every_page_has_the_policy(client, client_for,
                                                                         clinician, settings):
    signed_out = client.get("/accounts/login/")
    policy = dict(part.strip().split(" ", 1) for part in
                  signed_out["Content-Security-Policy"].split(";") if part.strip())
    storage = settings.MINIO_PUBLIC_ENDPOINT.rstrip("/")
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert policy["connect-src"] == f"'self' {storage}", "the uploader PUTs parts to storage"
    assert policy["form-action"] == f"'self' {storage}", "a download redirects to storage"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"

    page = client_for(clinician).get("/labs/lab-a/samples/")
    assert page.status_code == 200
    assert {"no-store", "private", "max-age=0"} <= {
        p.strip() for p in page["Cache-Control"].split(",")}
    static = client_for(clinician).get("/static/vendor/htmx.min.js")
    assert "no-store" not in static.get("Cache-Control", "")


@pytest.mark.django_db
def test_plain_http_is_redirected_except_the_health_probe(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/accounts/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert client.get("/healthz").status_code in (200, 503)
    secure = client.get("/accounts/login/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
