"""The production stack (portal/stack.py, what `scripts/stack` runs), for real: PostgreSQL, Redis,
SeaweedFS over TLS, gunicorn behind nginx, two task clusters on the Redis broker, production
settings. Its certificates are checked against the run's CA (and refused without it); Chromium
trusts exactly the run's server key. Through HTTPS only: a clinician uploads a sample (straight to
storage over TLS), a worker verifies it, the pipeline runs on a worker, a manager reviews and signs
the report out, and the clinician downloads it, checked against the SHA-256 the database holds.
All of it with least privilege in storage: each process holds only its own role's key pair, and
the server refuses a key what its role may not do."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time

import boto3
import psycopg
import pytest
import requests
from botocore.exceptions import ClientError

from portal import stack_parts
from portal.stack import Stack, credentials
from tests.helpers import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, enrol_totp_in_browser,
                           screenshot)

pytestmark = [pytest.mark.browser, pytest.mark.s3, pytest.mark.pipeline]
HSTS = "max-age=31536000; includeSubDomains"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, testdata):
    if missing := stack_parts.missing_binaries():
        if os.environ.get("CI"):      # scripts/bootstrap --test installs them
            pytest.fail("; ".join(missing))
        pytest.skip("; ".join(missing) + " (scripts/bootstrap --system --test installs it)")
    folder = tmp_path_factory.mktemp("stack")
    running = Stack(folder)
    try:
        running.seeded = running.start(reference=testdata)
        yield running
    finally:
        running.stop()
        running.discard()
        logs = folder / "logs"
        if logs.exists():    # kept beside the screenshots, for a failure's post-mortem
            shutil.copytree(logs, ARTIFACTS / "https-stack-logs", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def trusting_chromium(stack, playwright_driver):
    """Chromium that accepts the run's server certificate and no other untrusted one (its SPKI
    pin)."""
    pin = stack.certificates.spki_sha256()
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"])
    yield browser
    browser.close()


def query(stack, sql: str, *params):
    with psycopg.connect(stack.environment()["DATABASE_URL"]) as connection:
        return connection.execute(sql, params).fetchall()


def test_tls_is_checked_and_production_settings_show(stack):
    ca = str(stack.certificates.ca)
    page = requests.get(stack.url + "/accounts/login/", verify=ca, timeout=10)
    assert page.status_code == 200 and page.url.startswith("https://")
    assert page.headers["Strict-Transport-Security"] == HSTS
    assert "Secure" in page.headers["Set-Cookie"]
    assert page.headers["Server"] == "nginx"                       # no version (server_tokens)
    with pytest.raises(requests.exceptions.SSLError):               # not trusted without the CA
        requests.get(stack.url + "/accounts/login/", timeout=10)
    subprocess.run(["openssl", "verify", "-CAfile", ca, str(stack.certificates.cert)], check=True,
                   capture_output=True)

    plain = requests.get(f"http://127.0.0.1:{stack.ports['http']}/labs/", allow_redirects=False,
                         timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{stack.url}/labs/"

    # DEBUG is off: an unknown page is the plain 404, not Django's debug page.
    missing = requests.get(stack.url + "/no-such-page/", verify=ca, timeout=10)
    assert missing.status_code == 404 and "URLconf" not in missing.text

    # Storage speaks TLS with the run's certificate, and nothing but TLS.
    s3 = stack.environment()["MINIO_ENDPOINT"]
    assert s3.startswith("https://")
    assert requests.get(s3 + "/", verify=ca, timeout=10).status_code == 403   # unsigned: refused
    assert requests.get(s3.replace("https://", "http://") + "/", timeout=10).status_code == 400

    health = requests.get(stack.url + "/healthz", verify=ca, timeout=10, headers={
        "Authorization": f"Bearer {stack.secrets['WES_HEALTH_TOKEN']}"}).json()
    assert health["status"] == "ok"
    assert health["checks"]["database"]["vendor"] == "postgresql"
    assert health["checks"]["storage"]["endpoint"] == s3
    assert health["checks"]["queue"]["broker"] == "redis"
    assert health["checks"]["queue"]["clusters"] >= 3      # two general ones and the records one

    # A client's own X-Forwarded-For is not believed: nginx appends the real peer, and the portal
    # reads that one entry (WES_TRUSTED_PROXY_HOPS=1).
    http = requests.Session()      # (a session's own `verify` loses to REQUESTS_CA_BUNDLE)
    http.get(stack.url + "/accounts/login/", verify=ca, timeout=10)
    refused = http.post(stack.url + "/accounts/login/", verify=ca, timeout=10, data={
        "login": "nobody@demo.lab", "password": "not-a-password",
        "csrfmiddlewaretoken": http.cookies["csrftoken"]},
        headers={"Referer": stack.url + "/accounts/login/", "X-Forwarded-For": "203.0.113.9"})
    assert refused.status_code == 200 and "not correct" in refused.text
    [(address,)] = query(stack, "SELECT host(ip_address) FROM tenants_auditevent WHERE action = "
                                "'auth.login_failed' AND actor_email = 'nobody@demo.lab'")
    assert address == "127.0.0.1"

    # nginx hands /metrics from an allowed address to the portal (which answers it itself).
    metrics = requests.get(stack.url + "/metrics", verify=ca, timeout=10, headers={
        "Authorization": f"Bearer {stack.secrets['WES_METRICS_TOKEN']}"})
    assert "X-Request-ID" in metrics.headers, "answered by the portal, not refused by nginx"


def test_migrations_and_storage_match_the_running_code(stack):
    assert "No planned migration operations" in stack.manage("migrate", "--plan")
    stack.manage("setup_storage", "--check")


def sign_in(browser, stack, role):
    email, password = credentials(stack.seeded)[role]
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(stack.url + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page, password


def download(page, reason="clinical_care") -> bytes:
    page.check(f"input[name=reason][value={reason}]")
    with page.expect_download() as info:
        page.click("form button[type=submit]")
    return open(info.value.path(), "rb").read()


def test_upload_verify_run_review_sign_out_and_download_over_https(stack, trusting_chromium,
                                                                    testdata):
    browser = trusting_chromium
    page, _ = sign_in(browser, stack, "clinician")
    page.wait_for_url(stack.url + "/labs/demo/")
    page.goto(stack.url + "/labs/demo/samples/new/")
    page.fill("input[name=name]", "TEST1")
    page.fill("input[name=external_id]", "PSN-0042")
    page.select_option("select[name=sex]", "female")
    page.fill("textarea[name=clinical_indication]", "Dilated cardiomyopathy")
    page.fill("input[name=hpo_terms]", "HP:0000252")
    page.check("input[name=consent]")
    page.set_input_files("input[name=r1]", str(testdata / "TEST1_R1.fastq.gz"))
    page.set_input_files("input[name=r2]", str(testdata / "TEST1_R2.fastq.gz"))
    page.click("button[type=submit]")
    # Uploaded from the browser straight to storage over TLS, then verified by a worker.
    page.wait_for_selector("[data-submit-sample]", timeout=90_000)
    screenshot(page, "https-stack-1-sample-verified")
    page.click("[data-submit-sample]")
    page.wait_for_url(re.compile(r".*/labs/demo/jobs/[0-9a-f-]+/$"))
    job_url = page.url
    page.wait_for_selector('[data-job-status="succeeded"]', timeout=180_000)
    screenshot(page, "https-stack-2-job-succeeded")

    manager, password = sign_in(browser, stack, "manager")
    enrol_totp_in_browser(manager)
    manager.wait_for_url(stack.url + "/labs/demo/")
    manager.click("text=Reviews")
    manager.click("[data-review-queue] a:has-text('Review')")
    manager.wait_for_selector('[data-report-status="pending_review"]')
    manager.fill("input[name=result_summary]", "No reportable variant in this test run.")
    manager.click("text=Save draft")
    manager.wait_for_selector("[data-sign-form]")
    manager.check("[data-sign-form] input[name=confirm]")
    manager.fill("[data-sign-form] input[name=password]", password)
    manager.click("[data-sign-form] button[type=submit]")
    manager.wait_for_selector('[data-report-status="signed_out"]')
    screenshot(manager, "https-stack-3-signed-out")

    page.goto(job_url + "report/")
    page.click("[data-download=signed]")
    pdf = download(page)
    assert pdf.startswith(b"%PDF")
    [(signed_sha256,)] = query(stack, "SELECT signed_sha256 FROM jobs_report")
    assert hashlib.sha256(pdf).hexdigest() == signed_sha256
    page.goto(job_url)
    page.click('[data-download="TEST1_Final_.txt"]')
    table = download(page)
    [(table_sha256,)] = query(stack, "SELECT sha256 FROM jobs_joboutput WHERE path = %s",
                              "TEST1_Final_.txt")
    assert hashlib.sha256(table).hexdigest() == table_sha256
    screenshot(page, "https-stack-4-downloaded")

    # The proxy's address rule held: every audit row names the browser's loopback address.
    addresses = {row[0] for row in query(stack, "SELECT DISTINCT host(ip_address) FROM "
                                                "tenants_auditevent WHERE ip_address IS NOT NULL")}
    assert addresses == {"127.0.0.1"}
    actions = {row[0] for row in query(stack, "SELECT action FROM tenants_auditevent")}
    assert {"upload.completed", "sample.submitted", "job.succeeded", "report.signed_out",
            "report.downloaded", "output.downloaded"} <= actions
    # The chain check passes, and its checkpoint goes to the logs bucket over TLS.
    checked = stack.manage("verify_audit")
    assert "audit chain intact" in checked and "checkpoint written" in checked


def process_environment(process) -> dict[str, str]:
    raw = open(f"/proc/{process.pid}/environ", "rb").read().decode()
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


def storage_client(stack, role):
    access, secret = (stack.secrets[name] for name in stack_parts.storage_key_names(role))
    return boto3.client("s3", endpoint_url=stack.environment()["MINIO_ENDPOINT"],
                        aws_access_key_id=access, aws_secret_access_key=secret,
                        region_name="us-east-1", verify=str(stack.certificates.ca))


def refused_delete(stack, role, bucket, key) -> str:
    with pytest.raises(ClientError) as refused:
        storage_client(stack, role).delete_object(Bucket=bucket, Key=key)
    storage_client(stack, "admin").head_object(Bucket=bucket, Key=key)    # still there
    return refused.value.response["Error"]["Code"]


def test_each_process_holds_only_its_own_storage_key(stack):
    """The case above ran with split keys; each process has its role and that role's key only
    (no fallback to a broader one), and the server refuses a key what its role may not do."""
    roles = {"gunicorn": "web", "worker1": "worker", "worker2": "worker", "records": "records"}
    access_keys = {role: stack.secrets[stack_parts.storage_key_names(role)[0]]
                   for role in stack_parts.STORAGE_ROLES}
    for name, role in roles.items():
        env = process_environment(stack.processes[name])
        assert env["WES_STORAGE_ROLE"] == role
        assert env["MINIO_ACCESS_KEY"] == access_keys[role]
        held = {other for other, key in access_keys.items() if key in env.values()}
        assert held == {role}, f"{name} holds the keys of {held}"
    for name in ("nginx", "redis", "postgres"):
        assert not set(access_keys.values()) & set(process_environment(
            stack.processes[name]).values())

    # The records cluster runs, under its own name, beside the two general clusters.
    assert stack.processes["records"].poll() is None
    records = process_environment(stack.processes["records"])
    assert records["Q_CLUSTER_NAME"] == stack_parts.RECORDS_CLUSTER
    assert records["WES_RECORDS_CLUSTER"] == stack_parts.RECORDS_CLUSTER
    health = requests.get(stack.url + "/healthz", verify=str(stack.certificates.ca), timeout=10,
                          headers={"Authorization": f"Bearer {stack.secrets['WES_HEALTH_TOKEN']}"})
    assert health.json()["checks"]["queue"]["clusters"] == stack.workers + 1

    # The server holds each key to its role (bucket names: the settings' defaults).
    admin = storage_client(stack, "admin")
    [report] = [o["Key"] for o in admin.list_objects_v2(Bucket="wes-results")["Contents"]
                if "/report/" in o["Key"]][:1]
    raw = admin.list_objects_v2(Bucket="wes-raw-data")["Contents"][0]["Key"]
    assert refused_delete(stack, "web", "wes-results", report) == "AccessDenied"
    assert refused_delete(stack, "worker", "wes-raw-data", raw) == "AccessDenied"
    assert refused_delete(stack, "records", "wes-raw-data", raw) == "AccessDenied"
    storage_client(stack, "web").head_object(Bucket="wes-results", Key=report)   # may read it


def test_a_records_task_runs_on_the_records_cluster_with_the_records_key(stack):
    """Queued for any cluster (as the nightly schedule does), the reconciliation is handed on by a
    general worker to the records cluster, which lists every bucket with the records key."""
    stack.manage("shell", "-c", "from common.queue import enqueue; "
                 "enqueue('jobs.tasks.reconcile_storage', 'stack-test')")
    deadline = time.monotonic() + 90
    ran = []
    while time.monotonic() < deadline and len(ran) < 2:
        time.sleep(1)
        ran = query(stack, "SELECT cluster, success FROM django_q_task WHERE func = "
                           "'jobs.tasks.reconcile_storage' ORDER BY started")
    assert ran == [("wes", True), (stack_parts.RECORDS_CLUSTER, True)]
    [(status, error)] = query(stack, "SELECT status, error FROM jobs_reconciliationrun WHERE "
                                     "trigger = 'stack-test'")
    assert status in ("matches", "differences"), error
