import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from tests.helpers import redis_available, child_database_url
from storage import provisioning

ROOT = Path(__file__).resolve().parents[2]


PROBE_TOKEN = "probe-token-for-tests"


@pytest.fixture(autouse=True)
def health_token(settings):
    settings.HEALTH_TOKEN = PROBE_TOKEN


def health(client, token=PROBE_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/healthz", headers=headers)
    return response.status_code, json.loads(response.content)


def test_only_staff_and_the_probe_token_see_what_failed_and_where(client, db, real_s3, settings,
                                                                  client_for, clinician):
    """The database type, the internal S3 address and error texts are for operators."""
    from django.test import Client

    from tests.helpers import make_user

    provisioning.apply()
    _, detailed = health(client)
    assert detailed["checks"]["storage"]["endpoint"] == real_s3.endpoint
    assert "vendor" in detailed["checks"]["database"]
    expected = {"status": "error", "checks": {name: {"ok": check["ok"]}
                                              for name, check in detailed["checks"].items()}}
    for anonymous_token in ("", "wrong-token"):
        assert health(client, anonymous_token) == (503, expected)
    assert health(client_for(clinician), "") == (503, expected), "a lab member is not staff"
    staff = make_user("ops@portal.test", is_staff=True)
    seen = health(client_for(staff), "")[1]["checks"]
    assert seen["storage"] == detailed["checks"]["storage"] and "free_bytes" in seen["work_disk"]
    settings.HEALTH_TOKEN = ""
    assert health(Client(), "")[1] == expected, "no token configured: no token opens it"


def test_it_reports_each_part_and_503_without_a_worker(client, db, real_s3):
    provisioning.apply()
    status, body = health(client)
    assert status == 503 and body["status"] == "error"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["storage"] == {"ok": True, "endpoint": real_s3.endpoint}
    assert checks["queue"]["ok"] is False
    assert "no worker cluster is running" in checks["queue"]["error"]


def test_it_names_missing_buckets(client, db, real_s3):
    status, body = health(client)
    assert status == 503
    assert "missing bucket(s)" in body["checks"]["storage"]["error"]
    assert "setup_storage" in body["checks"]["storage"]["error"]


def test_it_explains_a_storage_server_that_is_down(client, db, storage_down):
    status, body = health(client)
    assert status == 503
    assert body["checks"]["storage"]["ok"] is False
    assert f"cannot reach the S3 server at {storage_down}" in body["checks"]["storage"]["error"]


def test_it_explains_wrong_storage_credentials(client, db, real_s3):
    with override_settings(MINIO_SECRET_KEY="wrong"):
        status, body = health(client)
    assert status == 503
    assert "rejected the credentials" in body["checks"]["storage"]["error"]


def child_env(**extra) -> dict:
    env = {**os.environ, "DATABASE_URL": child_database_url(),
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.update(extra)
    return env


def child_health(env) -> dict:
    probe = ("import django, json; django.setup(); from portal.health import check_queue; "
             "print(json.dumps(check_queue()))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def wait_for_worker(env, timeout=30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = child_health(env)
        if report["ok"]:
            return report
        time.sleep(0.5)
    return report


def run_worker_and_check(env) -> dict:
    worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        return wait_for_worker(env)
    finally:
        os.kill(worker.pid, signal.SIGTERM)  # the cluster stops its own workers
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


@pytest.mark.django_db(transaction=True)
def test_it_sees_a_running_worker_on_the_database_broker():
    report = run_worker_and_check(child_env(REDIS_URL=""))
    assert report["ok"] is True and report["broker"] == "orm" and report["clusters"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_it_sees_a_running_worker_on_the_redis_broker():
    env = child_env(REDIS_URL="redis://127.0.0.1:6379/7",
                    WES_QUEUE_NAME=f"wes-health-{os.getpid()}")
    report = run_worker_and_check(env)
    assert report["ok"] is True and report["broker"] == "redis" and report["clusters"] >= 1


@pytest.mark.django_db(transaction=True)
def test_it_explains_a_redis_broker_that_is_down():
    from storage.seaweed import free_port

    report = child_health(child_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert report["ok"] is False and report["broker"] == "redis"
    assert "ConnectionError" in report["error"]


def test_it_explains_a_database_that_is_down():
    from storage.seaweed import free_port

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
           "DATABASE_URL": f"postgres://nobody@127.0.0.1:{free_port()}/none"}
    probe = ("import django, json; django.setup(); from portal.health import check_database; "
             "print(json.dumps(check_database()))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is False
    assert report["error"].startswith("OperationalError: connection") and "failed" in report["error"]
