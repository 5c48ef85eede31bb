"""Short outages of the database, the cache and the task queue: pages answer with the portal's
own "try again in a moment" (503), sign-in keeps working, submitting says what happened. The
faults are real: connections go to a loopback port where nothing listens."""

import contextlib
import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from jobs.models import Job, Sample, SampleStatus
from storage.seaweed import free_port
from tests.helpers import make_user

PASSWORD = "correct-horse-battery-staple"


@contextlib.contextmanager
def database_down():
    """Every new connection of this process goes to a port nothing listens on."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_answers_503_with_the_portals_own_page(client_for, clinician):
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server to lose")
    client = client_for(clinician)
    client.raise_request_exception = False
    assert client.get("/labs/lab-a/samples/").status_code == 200
    with database_down():
        response = client.get("/labs/lab-a/samples/")
    body = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "Try again in a moment" in body and "cannot reach its database" in body
    assert response["X-Request-ID"] in body
    assert client.get("/labs/lab-a/samples/").status_code == 200, "back as soon as it answers"


@pytest.fixture
def redis_down(settings):
    """The cache configured on Redis, at a port where nothing listens."""
    settings.CACHES = {"default": {
        "BACKEND": "common.cache.RedisCacheWithFallback",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    yield
    cache.clear()


@pytest.mark.django_db
def test_sign_in_keeps_working_and_limited_while_redis_is_down(client, redis_down):
    make_user("someone@lab-a.test", password=PASSWORD)
    answer = client.post("/accounts/login/", {"login": "someone@lab-a.test", "password": PASSWORD})
    assert answer.status_code == 302 and "_auth_user_id" in client.session
    client.logout()

    # The rate limits still count (5 failures per account), in this process's memory.
    pages = [client.post("/accounts/login/", {"login": "someone@lab-a.test",
                                              "password": "wrong-password-here"}).content.decode()
             for _ in range(6)]
    assert not any("Too many failed" in page for page in pages[:5])
    assert "Too many failed sign-in attempts" in pages[5]


@pytest.mark.django_db(transaction=True)
def test_submitting_while_the_queue_is_down_says_what_happened(client_for, clinician, monkeypatch):
    from django_q.conf import Conf

    # The django-q2 broker on a Redis that does not answer.
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "REDIS", f"redis://127.0.0.1:{free_port()}/0")
    sample = Sample.objects.create(lab=clinician.lab, name="Q1", external_id="P-Q1", sex="female",
                                   clinical_indication="x", consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status=SampleStatus.READY,
                                   job_id=uuid.uuid4())
    client = client_for(clinician)
    client.raise_request_exception = False
    response = client.post(f"/labs/lab-a/samples/{sample.pk}/submit/", follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Q1 was submitted, but the task queue did not answer" in body
    assert "starts by itself once it answers" in body
    job = Job.objects.get(sample=sample)
    assert job.status == "queued", "the job is recorded; the reaper queues it again"


def test_healthz_answers_within_seconds_while_storage_hangs(client, db, settings):
    """A server that accepts connections and never answers (a hung MinIO): /healthz reports it
    in about WES_HEALTH_TIMEOUT_SECONDS instead of holding the probe for half a minute."""
    import socket
    import time

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    endpoint = f"http://127.0.0.1:{hung.getsockname()[1]}"
    settings.MINIO_ENDPOINT = endpoint
    settings.HEALTH_TIMEOUT_SECONDS = 1
    settings.HEALTH_TOKEN = "t"
    try:
        started = time.monotonic()
        response = client.get("/healthz", headers={"Authorization": "Bearer t"})
        took = time.monotonic() - started
    finally:
        hung.close()
    storage = response.json()["checks"]["storage"]
    assert response.status_code == 503 and storage["ok"] is False
    assert "did not answer in time" in storage["error"], storage
    assert took < 8, f"/healthz took {took:.1f} s"
