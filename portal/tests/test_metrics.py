"""/metrics: who may scrape it, what it shows, and that a scrape costs the same few queries however
much data there is (actions moving the recorded counts: jobs/tests/test_metrics_recorded.py)."""

import ipaddress
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobStatus, Sample
from tests.metrics import TEST_TOKEN, families, scrape, value

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

FAMILIES = {
    "wes_http_requests": "counter", "wes_http_request_duration_seconds": "histogram",
    "wes_s3_errors": "counter", "wes_jobs": "gauge", "wes_jobs_oldest_queued_age_seconds": "gauge",
    "wes_jobs_stale_leases": "gauge", "wes_queue_depth": "gauge",
    "wes_queue_oldest_task_age_seconds": "gauge", "wes_queue_tasks_taken": "gauge",
    "wes_queue_clusters": "gauge", "wes_queue_workers": "gauge", "wes_upload_bytes": "counter",
    "wes_download_bytes": "counter", "wes_verification_failures": "counter",
    "wes_lease_takeovers": "counter", "wes_jobs_finished": "counter",
    "wes_pipeline_step_duration_seconds": "histogram", "wes_check_ok": "gauge",
    "wes_check_problems": "gauge", "wes_check_timestamp_seconds": "gauge",
    "wes_metrics_source_up": "gauge",
}


@pytest.fixture(autouse=True)
def metrics_access(settings):
    settings.METRICS_TOKEN = TEST_TOKEN
    settings.METRICS_ALLOWED_IPS = []


def get(token=None, address="127.0.0.1", method="get", **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return getattr(Client(REMOTE_ADDR=address), method)("/metrics", headers=headers)


def test_it_answers_the_token_and_nobody_else_reveals_anything(settings):
    not_found = Client().get("/no-such-page")
    for refused in (get(), get("wrong-token"), get(TEST_TOKEN[:-1]), get(method="post"),
                    get(f"{TEST_TOKEN} "[:-1] + "x"), Client().get("/metrics", headers={
                        "Authorization": TEST_TOKEN})):      # not "Bearer ..."
        assert refused.status_code == 404 == not_found.status_code
        assert refused.content == not_found.content, "the same page as any missing page"
        assert b"wes_" not in refused.content
    assert get(TEST_TOKEN).status_code == 200
    assert get(TEST_TOKEN, method="post").status_code == 405
    settings.METRICS_TOKEN = ""
    assert get("").status_code == get(" ").status_code == 404, "no token set: no token opens it"


def test_it_answers_allowed_addresses_as_the_client_address_rule_reads_them(settings):
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.1.0.0/16"),
                                    ipaddress.ip_network("2001:db8::1")]
    assert get(address="10.1.2.3").status_code == 200
    assert get(address="2001:db8::1").status_code == 200
    assert get(address="10.2.0.1").status_code == 404
    assert get(address="127.0.0.1").status_code == 404
    # Behind one trusted proxy the client is the address the proxy appended; what the client
    # wrote itself further left is ignored.
    settings.TRUSTED_PROXY_HOPS = 1
    assert get(address="127.0.0.1", X_FORWARDED_FOR="10.1.9.9").status_code == 200
    assert get(address="127.0.0.1", X_FORWARDED_FOR="10.1.9.9, 192.0.2.7").status_code == 404


def test_the_setting_takes_addresses_and_networks_and_refuses_anything_else():
    env = {**os.environ, "DJANGO_DEBUG": "true", "WES_METRICS_ALLOWED_IPS": "10.0.0.5, bad"}
    answer = subprocess.run([sys.executable, "-c", "import django; from django.conf import "
                             "settings; django.setup(); print(settings.METRICS_ALLOWED_IPS)"],
                            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
                            capture_output=True, text=True)
    assert answer.returncode != 0 and "WES_METRICS_ALLOWED_IPS" in answer.stderr
    env["WES_METRICS_ALLOWED_IPS"] = "10.0.0.5,10.1.0.0/16,::1"
    answer = subprocess.run([sys.executable, "-c", "import django; from django.conf import "
                             "settings; django.setup(); print(settings.METRICS_ALLOWED_IPS)"],
                            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
                            capture_output=True, text=True)
    assert "10.1.0.0/16" in answer.stdout and "::1/128" in answer.stdout, answer.stderr


def test_the_exposition_parses_and_holds_every_family_with_its_type():
    Client().get("/healthz")
    response = get(TEST_TOKEN)
    from prometheus_client.parser import text_string_to_metric_families

    types = {f.name: f.type for f in text_string_to_metric_families(response.content.decode())}
    assert {name: types.get(name) for name in FAMILIES} == FAMILIES
    scraped = families(response.content.decode())
    for source in ("jobs", "queue", "recorded", "checks"):
        assert value(scraped, "wes_metrics_source_up", source=source) == 1
    for state in JobStatus.values:
        assert ("wes_jobs", (("state", state),)) in scraped["wes_jobs"]
    for check in ("audit_chain", "storage_drift"):
        assert value(scraped, "wes_check_timestamp_seconds", check=check) == 0, "never ran"


def _job(clinician, name, **fields):
    sample = Sample.objects.create(lab=clinician.lab, name=name, external_id="P-1", sex="male",
                                   clinical_indication="x", consent_confirmed_at=timezone.now(),
                                   created_by=clinician.user, status="submitted")
    return Job.objects.create(lab=clinician.lab, sample=sample, submitted_by=clinician.user,
                              **fields)


def test_jobs_by_state_oldest_queued_and_dead_leases_follow_the_jobs(client, clinician):
    before = scrape(client)
    now = timezone.now()
    _job(clinician, "F1", status=JobStatus.FAILED, finished_at=now)
    _job(clinician, "Q1", queued_at=now - timedelta(minutes=20))
    _job(clinician, "Q2", queued_at=now - timedelta(minutes=2))
    _job(clinician, "R1", status=JobStatus.RUNNING, lease_owner="dead",
         lease_expires_at=now - timedelta(minutes=1))
    _job(clinician, "R2", status=JobStatus.RUNNING, lease_owner="alive",
         lease_expires_at=now + timedelta(minutes=1))
    after = scrape(client)
    for state, added in (("failed", 1), ("queued", 2), ("running", 2), ("succeeded", 0)):
        assert value(after, "wes_jobs", state=state) == value(before, "wes_jobs", state=state) + added
    assert 20 * 60 <= value(after, "wes_jobs_oldest_queued_age_seconds") < 21 * 60
    assert value(after, "wes_jobs_stale_leases") == 1


def test_the_orm_queue_depth_and_its_oldest_task(client, settings):
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    assert "orm" in settings.Q_CLUSTER, "the tests run on the database broker"
    assert value(scrape(client), "wes_queue_depth", broker="orm") == 0
    async_task("jobs.tasks.sweep_intake")
    async_task("jobs.tasks.sweep_intake")
    OrmQ.objects.filter(pk=OrmQ.objects.order_by("id").first().pk).update(
        lock=timezone.now() - timedelta(minutes=7))
    scraped = scrape(client)
    assert value(scraped, "wes_queue_depth", broker="orm") == 2
    assert 7 * 60 <= value(scraped, "wes_queue_oldest_task_age_seconds") < 8 * 60
    assert value(scraped, "wes_queue_clusters") == 0, "no qcluster runs in the tests"


def test_requests_are_counted_by_url_name_never_by_path(client, clinician, client_for):
    before = scrape(client)
    member = client_for(clinician)
    sample = _job(clinician, "V1").sample
    for _ in range(2):
        member.get(f"/labs/{clinician.lab.slug}/samples/{sample.pk}/")
    Client().get(f"/no-such-page/{sample.pk}")
    after = scrape(client)
    series = after["wes_http_requests"]
    page = [labels for (_, labels), _ in series.items() if ("status", "200") in labels
            and dict(labels)["view"].endswith("sample_detail")]
    assert page, sorted(series)
    view = dict(page[0])["view"]
    assert value(after, "wes_http_requests", "wes_http_requests_total", view=view, method="GET",
                 status=200) == value(before, "wes_http_requests", "wes_http_requests_total",
                                      view=view, method="GET", status=200) + 2
    assert value(after, "wes_http_requests", "wes_http_requests_total", view="unresolved",
                 method="GET", status=404) >= 1
    labels = " ".join(str(labels) for (_, labels) in series)
    assert str(sample.pk) not in labels and clinician.lab.slug not in labels
    assert value(after, "wes_http_request_duration_seconds",
                 "wes_http_request_duration_seconds_count", view=view, method="GET") >= 2


def test_an_unreachable_storage_counts_an_s3_error_by_operation(client, storage_down):
    from storage import s3

    before = scrape(client)
    with pytest.raises(s3.StorageError):
        s3.object_info("wes-raw-data", "some/key")
    with pytest.raises(s3.StorageError):
        list(s3.list_pages("wes-raw-data", "lab/"))
    after = scrape(client)
    for operation in ("HeadObject", "ListObjectsV2"):
        labels = {"operation": operation, "code": "Unreachable"}
        assert value(after, "wes_s3_errors", "wes_s3_errors_total", **labels) == value(
            before, "wes_s3_errors", "wes_s3_errors_total", **labels) + 1


def test_an_s3_error_is_counted_though_its_transaction_rolls_back(client, storage_down):
    """A failed storage call inside a service's transaction usually takes the transaction down
    with it: the count is kept in the process and written outside it."""
    from django.db import transaction

    from storage import s3

    labels = {"operation": "HeadObject", "code": "Unreachable"}
    before = value(scrape(client), "wes_s3_errors", "wes_s3_errors_total", **labels)
    with pytest.raises(s3.StorageError), transaction.atomic():
        s3.object_info("wes-raw-data", "some/key")
    assert value(scrape(client), "wes_s3_errors", "wes_s3_errors_total", **labels) == before + 1


def test_a_workers_s3_error_is_written_when_its_task_ends(storage_down, sync_tasks):
    """Workers are not scraped per process: their storage errors reach the database when each
    task ends (django-q2's post_execute_in_worker), for whichever process answers /metrics."""
    from django_q.tasks import async_task

    from storage import s3
    from storage.metric_records import labels_text
    from storage.models import MetricCount

    def recorded() -> float:
        row = MetricCount.objects.filter(
            name="s3_errors", labels=labels_text({"operation": "HeadObject",
                                                  "code": "Unreachable"})).first()
        return row.value if row else 0

    before = recorded()
    with pytest.raises(s3.StorageError):   # a synchronous task's error reaches its caller
        async_task("storage.s3.object_info", "wes-raw-data", "some/key")
    assert recorded() == before + 1


def test_a_refused_s3_call_is_counted_with_its_code(client, moto_s3):
    from storage import s3

    with pytest.raises(s3.StorageError):
        s3.set_object_tags("no-such-bucket", "key", {"a": "b"})
    assert value(scrape(client), "wes_s3_errors", "wes_s3_errors_total",
                 operation="PutObjectTagging", code="NoSuchBucket") >= 1


def test_a_scrape_costs_the_same_queries_with_more_data(client, clinician):
    from storage import metric_records

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert get(TEST_TOKEN).status_code == 200
        return len(captured)

    few = queries()
    now = timezone.now()
    for n in range(25):
        _job(clinician, f"J{n}", status=[JobStatus.QUEUED, JobStatus.FAILED, JobStatus.RUNNING][n % 3],
             queued_at=now - timedelta(minutes=n), lease_expires_at=now)
        metric_records.count("download_bytes", 100, kind="report")
        metric_records.observe("pipeline_step_duration_seconds", [({"step": f"S{n % 5}"}, n)])
    metric_records.record_check("storage_drift", ok=False, problems=3)
    assert queries() == few
    assert few <= 12, f"{few} queries for one scrape"


def test_per_process_counters_add_up_over_processes_in_multiprocess_mode(tmp_path):
    """PROMETHEUS_MULTIPROC_DIR: each gunicorn or qcluster process writes its counters there, and
    whichever process answers /metrics sums them all."""
    script = """
import os, django
django.setup()
from portal import metrics
from common.metrics import HTTP_REQUESTS
metrics.SOURCES.clear()          # the database figures are tested above
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        HTTP_REQUESTS.labels("healthz", "GET", "200").inc()
        os._exit(0)
    os.waitpid(pid, 0)
from prometheus_client import generate_latest
print(generate_latest(metrics.scrape_registry()).decode())
"""
    env = {**os.environ, "DJANGO_DEBUG": "true", "DJANGO_SETTINGS_MODULE": "portal.settings",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    answer = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr
    scraped = families(answer.stdout)
    assert value(scraped, "wes_http_requests", "wes_http_requests_total", view="healthz",
                 method="GET", status="200") == 2


def test_the_gunicorn_configuration_marks_an_exited_worker_dead(tmp_path, monkeypatch):
    import runpy
    from types import SimpleNamespace

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    config["child_exit"](None, SimpleNamespace(pid=4242))
    assert not live.exists()


def test_the_redis_queue_depth_and_its_oldest_task(client, settings, monkeypatch):
    """With REDIS_URL, the broker's own queue_size and the head of its list (the oldest task)."""
    from django_q.conf import Conf
    from django_q.signing import SignedPackage

    from tests.helpers import redis_available

    if not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:6379/15")
    monkeypatch.setattr(Conf, "CLUSTER_NAME", f"wes-metrics-test-{os.getpid()}")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": "redis://127.0.0.1:6379/15"}
    from django_q.brokers import get_broker

    broker = get_broker()
    broker.delete_queue()
    try:
        assert value(scrape(client), "wes_queue_depth", broker="redis") == 0
        for minutes in (9, 1):
            broker.enqueue(SignedPackage.dumps({"id": "t", "func": "jobs.tasks.sweep_intake",
                                                "started": timezone.now()
                                                - timedelta(minutes=minutes)}))
        scraped = scrape(client)
        assert value(scraped, "wes_queue_depth", broker="redis") == 2
        assert 9 * 60 <= value(scraped, "wes_queue_oldest_task_age_seconds") < 10 * 60
        assert "wes_queue_tasks_taken" not in scraped, "the ORM broker's figure only"
        assert value(scraped, "wes_metrics_source_up", source="queue") == 1
    finally:
        broker.delete_queue()


def test_a_source_that_fails_is_reported_and_the_others_still_shown(client, monkeypatch):
    from portal import metrics

    def broken(now):
        raise ConnectionError("the broker does not answer")

    monkeypatch.setattr(metrics, "SOURCES", [("jobs", metrics.jobs_families), ("queue", broken)])
    scraped = scrape(client)
    assert value(scraped, "wes_metrics_source_up", source="queue") == 0
    assert value(scraped, "wes_metrics_source_up", source="jobs") == 1
    assert "wes_jobs" in scraped and "wes_queue_depth" not in scraped


def test_open_scrub_findings_are_shown_by_kind(client):
    """Once the storage scrub's tables are there (the scrub's branch), its open findings."""
    from django.apps import apps

    try:
        finding = apps.get_model("wes_storage", "ScrubFinding")
        run = apps.get_model("wes_storage", "ScrubRun")
    except LookupError:
        pytest.skip("this branch has no storage scrub yet")
    done = run.objects.create(trigger="command", status="findings", finished_at=timezone.now())
    for key, resolved in (("a", None), ("b", None), ("c", timezone.now())):
        finding.objects.create(run=done, bucket="wes-results", key=key, kind="missing",
                               expected="1 byte", found="nothing", resolved_at=resolved)
    scraped = scrape(client)
    assert value(scraped, "wes_scrub_open_findings", kind="missing") == 2
    assert value(scraped, "wes_scrub_open_findings", kind="sha256_mismatch") == 0
    assert value(scraped, "wes_scrub_last_finished_timestamp_seconds") > 0
