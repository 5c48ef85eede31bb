"""Samples and jobs in the admin: read-only, PHI views audited, legal holds placed and lifted."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from jobs.models import Job, Sample
from tests.helpers import enter_totp_code, give_totp, make_user, screenshot
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/jobs/job/"


def make_job(lab, name="TEST1", *, finished_days_ago=100, status="succeeded", **fields) -> Job:
    user = make_user(f"{name.lower()}@lab-a.test")
    now = timezone.now()
    sample = Sample.objects.create(lab=lab, name=name, external_id=f"PSN-{name}", sex="male",
                                   clinical_indication="Cardiomyopathy",
                                   consent_confirmed_at=now, created_by=user, status="submitted")
    return Job.objects.create(id=sample.job_id, lab=lab, sample=sample, status=status,
                              submitted_by=user,
                              finished_at=now - timedelta(days=finished_days_ago), **fields)


@pytest.fixture
def staff(db):
    return make_user("admin@portal.test", is_staff=True, is_superuser=True)


@pytest.fixture
def job(lab_a):
    return make_job(lab_a)


def test_it_audits_every_view_of_a_job_or_sample_page_as_phi(client_for, staff, job):
    client = client_for(staff)
    page = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert page.status_code == 200 and "TEST1" in page.content.decode()
    assert client.get(f"/admin/jobs/sample/{job.sample.pk}/change/").status_code == 200
    assert "Cardiomyopathy" in client.get(
        f"/admin/jobs/sample/{job.sample.pk}/change/").content.decode()

    job_views = AuditEvent.objects.filter(action=audit_actions.JOB_ADMIN_VIEWED)
    sample_views = AuditEvent.objects.filter(action=audit_actions.SAMPLE_ADMIN_VIEWED)
    assert job_views.count() == 1 and sample_views.count() == 2
    event = job_views.get()
    assert (event.phi_accessed, event.actor_email, event.lab_id, event.resource_id) == (
        True, "admin@portal.test", job.lab_id, str(job.pk))
    assert event.details == {"via": "admin"}


def test_it_lists_jobs_with_their_dates_and_holds(client_for, staff, lab_a, settings):
    held = make_job(lab_a, "HELD1", legal_hold=True, legal_hold_reason="Case 2024-117",
                    legal_hold_by="admin@portal.test", legal_hold_at=timezone.now())
    archived_at = timezone.now() - timedelta(days=10)
    make_job(lab_a, "OLD1", status="archived", archived_at=archived_at)
    page = client_for(staff).get(CHANGELIST).content.decode()

    due = (held.finished_at + timedelta(days=settings.ARCHIVE_AFTER_DAYS)).date()
    assert f"not while held (due {due:%Y-%m-%d})" in page
    assert f"archived {archived_at:%Y-%m-%d}" in page
    assert f"{(archived_at + timedelta(days=7 * 365)).date():%Y-%m-%d}" in page
    assert "HELD: Case 2024-117" in page
    make_job(lab_a, "NEW1", finished_days_ago=80)
    make_job(lab_a, "LATE1", finished_days_ago=95)
    page = client_for(staff).get(CHANGELIST).content.decode()
    assert f"due {(timezone.now() + timedelta(days=10)).date():%Y-%m-%d}" in page
    assert f"overdue since {(timezone.now() - timedelta(days=5)).date():%Y-%m-%d}" in page
    phi_views = AuditEvent.objects.filter(phi_accessed=True).values_list("action", flat=True)
    assert list(phi_views) == [audit_actions.JOB_ADMIN_LISTED] * 2  # every lab's patients

    filtered = client_for(staff).get(CHANGELIST + "?legal_hold__exact=1").content.decode()
    assert "HELD1" in filtered and "OLD1" not in filtered
    assert "OLD1" in client_for(staff).get(CHANGELIST + "?q=PSN-OLD1").content.decode()


def test_it_places_a_hold_with_a_reason_after_asking_for_one(client_for, staff, job,
                                                             provisioned_s3):
    client = client_for(staff)
    selection = {"action": "place_legal_hold", ACTION_CHECKBOX_NAME: [str(job.pk)]}
    ask = client.post(CHANGELIST, selection)
    assert ask.status_code == 200 and "Place a legal hold" in ask.content.decode()
    assert not Job.objects.get(pk=job.pk).legal_hold

    blank = client.post(CHANGELIST, {**selection, "apply": "1", "reason": "  "})
    assert "This field is required." in blank.content.decode()
    assert not Job.objects.get(pk=job.pk).legal_hold

    done = client.post(CHANGELIST, {**selection, "apply": "1", "reason": "Litigation, case 9"},
                       follow=True)
    assert "1 job(s) under legal hold: TEST1" in done.content.decode()
    job.refresh_from_db()
    assert (job.legal_hold, job.legal_hold_reason, job.legal_hold_by) == (
        True, "Litigation, case 9", "admin@portal.test")
    (event,) = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_PLACED)
    assert event.details["reason"] == "Litigation, case 9" and event.lab_id == job.lab_id

    again = client.post(CHANGELIST, {**selection, "apply": "1", "reason": "twice"}, follow=True)
    assert "already under legal hold (Litigation, case 9)" in again.content.decode()
    assert AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_PLACED).count() == 1


def test_a_hold_is_refused_with_the_storage_error_when_storage_is_down(client_for, staff, job,
                                                                      storage_down):
    response = client_for(staff).post(CHANGELIST, {
        "action": "place_legal_hold", "apply": "1", ACTION_CHECKBOX_NAME: [str(job.pk)],
        "reason": "Litigation, case 9"}, follow=True)
    page = response.content.decode()
    assert "Not changed: TEST1: cannot reach the S3 server at " + storage_down in page
    assert "under legal hold: TEST1" not in page
    assert not Job.objects.get(pk=job.pk).legal_hold


def test_it_lifts_a_hold_and_audits_why(client_for, staff, job, provisioned_s3):
    from jobs.records.retention import job_hold_place

    job_hold_place(actor=staff, job=job, reason="Case 12")
    client = client_for(staff)
    response = client.post(CHANGELIST, {"action": "lift_legal_hold", "apply": "1",
                                        ACTION_CHECKBOX_NAME: [str(job.pk)],
                                        "reason": "Case closed"}, follow=True)
    assert "1 job(s) no longer under legal hold" in response.content.decode()
    job.refresh_from_db()
    assert not job.legal_hold and job.legal_hold_reason == ""
    (event,) = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_LIFTED)
    assert event.details["reason"] == "Case closed" and event.details["held_for"] == "Case 12"


def test_the_job_page_shows_steps_qc_and_sizes_as_tables(client_for, staff, lab_a):
    from jobs.models import JobOutput

    job = make_job(lab_a, "READ1", progress=[
        {"process": "FASTP_QC", "status": "completed", "duration_s": 2.25, "exit_code": 0},
        {"process": "BWA_ALIGN", "status": "failed", "duration_s": None, "exit_code": 137}],
        qc={"reads_before_filtering": 123456, "mapped_pct": 98.765,
            "status": {"mapped_pct": "pass"}})
    JobOutput.objects.create(lab=lab_a, job=job, path="bam/READ1.bam", bucket_role="intermediate",
                             key="k", size=5 * 1024 * 1024, sha256="a" * 64,
                             verified_at=timezone.now())
    page = client_for(staff).get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "<tr><td>FASTP_QC</td><td>completed</td><td>2.2 s</td><td>0</td></tr>" in page
    assert "<tr><td>BWA_ALIGN</td><td>failed</td><td>–</td><td>137</td></tr>" in page
    assert "<tr><td>Reads before filtering</td><td>123,456 reads</td><td></td></tr>" in page
    assert "<tr><td>Reads mapped</td><td>98.77%</td><td>pass</td></tr>" in page
    assert '<span title="5,242,880 bytes">5.0\xa0MiB</span>' in page
    assert '"process": "FASTP_QC"' not in page, "no raw JSON"


def test_staff_cannot_add_change_or_delete_jobs_and_samples(client_for, staff, job):
    client = client_for(staff)
    assert client.get("/admin/jobs/job/add/").status_code == 403
    assert client.get("/admin/jobs/sample/add/").status_code == 403
    assert client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert "delete_selected" not in client.get(CHANGELIST).content.decode()


def test_staff_without_job_permissions_are_not_offered_holds(client_for, job):
    from django.contrib.auth.models import Permission

    viewer = make_user("viewer@portal.test", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = client_for(viewer)
    page = client.get(CHANGELIST).content.decode()
    assert "TEST1" in page and "place_legal_hold" not in page
    client.post(CHANGELIST, {"action": "place_legal_hold", "apply": "1", "reason": "x",
                             ACTION_CHECKBOX_NAME: [str(job.pk)]})
    assert not Job.objects.get(pk=job.pk).legal_hold


def test_lab_members_cannot_reach_the_job_admin(client_for, manager, job):
    response = client_for(manager).get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response.url


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_job_list_in_chromium(chromium, live_server, lab_a, provisioned_s3):
    give_totp(make_user("admin@portal.test", password="correct-horse-battery-staple",
                        is_staff=True, is_superuser=True))
    make_job(lab_a, "NA12878")
    make_job(lab_a, "HG002", finished_days_ago=85)
    make_job(lab_a, "OLD1", status="archived", archived_at=timezone.now() - timedelta(days=40))
    make_job(lab_a, "HELD1", legal_hold=True, legal_hold_reason="Litigation hold, case 2024-117",
             legal_hold_by="admin@portal.test", legal_hold_at=timezone.now())
    page = chromium.new_page(viewport={"width": 1400, "height": 800})
    page.goto(live_server.url + "/accounts/login/?next=/admin/")
    page.fill("input[name=login]", "admin@portal.test")
    page.fill("input[name=password]", "correct-horse-battery-staple")
    page.click("[type=submit]")
    enter_totp_code(page)
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.goto(live_server.url + CHANGELIST)
    assert page.locator("#result_list tbody tr").count() == 4
    assert page.get_by_text("HELD: Litigation hold, case 2024-117").is_visible()
    screenshot(page, "admin-job-list")

    page.locator("#result_list tbody tr", has_text="NA12878").locator("input.action-select").check()
    page.select_option("select[name=action]", "place_legal_hold")
    page.click("button[name=index]")
    page.fill("textarea[name=reason]", "Regulator request R-9")
    screenshot(page, "admin-job-legal-hold-form")
    page.click("input[name=apply]")
    page.get_by_text("1 job(s) under legal hold: NA12878").wait_for()
    assert page.locator("#result_list tbody tr", has_text="NA12878").get_by_text(
        "HELD: Regulator request R-9").is_visible()
    screenshot(page, "admin-job-list-after-hold")
    page.close()


@pytest.mark.parametrize("url", [CHANGELIST, "/admin/jobs/sample/", "/admin/tenants/auditevent/",
                                 f"{CHANGELIST}?status__exact=succeeded&o=2"])
def test_large_lists_draw_the_cells_djangos_own_renderer_draws(client_for, staff, lab_a, url):
    """common.admin.LargeTableChangeList draws rows in one pass; each cell must be what Django's
    items_for_result gives (links with the preserved filters, icons, empty values, classes)."""
    from django.contrib.admin.templatetags.admin_list import results

    make_job(lab_a, "HELD1", legal_hold=True, legal_hold_reason="Case 7",
             legal_hold_by="admin@portal.test", legal_hold_at=timezone.now())
    make_job(lab_a, "PLAIN2", finished_days_ago=3, archived_at=None)
    make_job(lab_a, "FAILED3", status="failed")
    response = client_for(staff).get(url)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert len(cl.result_list) >= 2
    assert cl.rows == ["".join(row) for row in results(cl)]
    assert 'name="_selected_action"' in response.content.decode() or url != CHANGELIST


@pytest.mark.parametrize("url", [CHANGELIST, "/admin/jobs/sample/", "/admin/tenants/auditevent/"])
def test_large_lists_offer_no_count_per_filter_choice(client_for, staff, lab_a, url):
    """Django's "Show counts" (facets) counts every filter choice over the whole table: at a
    million audit events, a few seconds per click. The long lists neither offer nor obey it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_job(lab_a, "COUNTED1")
    client = client_for(staff)
    page = client.get(url).content.decode()
    assert "Show counts" not in page and "_facets" not in page
    with CaptureQueriesContext(connection) as plain:
        client.get(url)
    with CaptureQueriesContext(connection) as asked:
        assert client.get(f"{url}?_facets=True").status_code == 200
    assert not [q for q in asked.captured_queries if "COUNT(" in q["sql"] and "FILTER" in q["sql"]]
    assert len(asked.captured_queries) == len(plain.captured_queries)


def test_the_list_marks_held_jobs_whose_objects_wait_in_queries_that_do_not_grow(
        client_for, staff, lab_a):
    """A job held where the records key is not: its stored objects wait for the records worker,
    which the list says per row (common.admin prepare_rows: one query for the page)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.records.retention import HOLD_OBJECTS_QUEUED
    from tenants.audit import Actor, audit_record

    def held_and_queued(name):
        job = make_job(lab_a, name, legal_hold=True, legal_hold_reason=f"Case {name}",
                       legal_hold_by="admin@portal.test", legal_hold_at=timezone.now())
        audit_record(actor=Actor.for_user(staff), action=audit_actions.LEGAL_HOLD_PLACED, lab=lab_a,
                     resource_type="job", resource_id=job.pk,
                     details={"reason": f"Case {name}", "objects": HOLD_OBJECTS_QUEUED})

    client = client_for(staff)
    held_and_queued("WAIT1")
    make_job(lab_a, "HELDDONE", legal_hold=True, legal_hold_reason="Case done",
             legal_hold_by="admin@portal.test", legal_hold_at=timezone.now())
    client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        client.get(CHANGELIST)
    for n in range(2, 6):
        held_and_queued(f"WAIT{n}")
    with CaptureQueriesContext(connection) as many:
        html = client.get(CHANGELIST).content.decode()
    assert len(many) == len(few), [q["sql"] for q in many]
    assert html.count("(stored objects not yet held)") == 5
    assert "HELD: Case done<" in html


def test_the_long_lists_count_without_reading_the_table(client_for, staff, lab_a, monkeypatch):
    """common.admin.CappedCountPaginator: the whole table's count is PostgreSQL's estimate (no
    COUNT over every row), a filter's count stops at the cap; the page says which."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from common.admin import CappedCountPaginator

    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's (pg_class.reltuples)")
    monkeypatch.setattr(CappedCountPaginator, "COUNT_CAP", 3)
    for n in range(5):
        make_job(lab_a, f"COUNTED{n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job")
    client = client_for(staff)
    with CaptureQueriesContext(connection) as plain:
        html = client.get(CHANGELIST).content.decode()
    assert 'data-count="estimated">About 5 jobs in all' in html
    assert not [q for q in plain.captured_queries if q["sql"].startswith("SELECT COUNT(*)")
                and "LIMIT" not in q["sql"]]
    html = client.get(f"{CHANGELIST}?status__exact=succeeded").content.decode()
    assert 'data-count="capped">More than 3 jobs match' in html
    html = client.get(f"{CHANGELIST}?q=PSN-COUNTED1").content.decode()
    assert "data-count" not in html and "1 job" in html


@pytest.mark.parametrize("url,action", [
    (CHANGELIST, audit_actions.JOB_ADMIN_LISTED),
    ("/admin/jobs/sample/", audit_actions.SAMPLE_ADMIN_LISTED)])
def test_every_page_of_the_admin_lists_and_each_search_is_audited(client_for, staff, lab_a, url,
                                                                   action):
    """Both lists show every lab's patients; a search by identifier looks a patient up."""
    make_job(lab_a, "SEEN1")
    client = client_for(staff)
    assert client.get(url).status_code == 200
    assert client.get(f"{url}?q=PSN-SEEN1&lab__id__exact={lab_a.pk}").status_code == 200
    listed, searched = AuditEvent.objects.filter(action=action).order_by("id")
    assert (listed.phi_accessed, listed.actor_email, listed.lab_id) == (
        True, "admin@portal.test", None)
    assert listed.details == {"via": "admin", "search": "", "filters": {}, "page": 1, "shown": 1}
    assert searched.details["search"] == "PSN-SEEN1"
    assert searched.details["filters"] == {"lab__id__exact": str(lab_a.pk)}


def run_one_queued_task():
    """One pass of a django-q2 cluster over its queue (the ORM broker): the task runs in a worker
    and its result, or its failure, is saved as a cluster saves it."""
    from multiprocessing import Queue, Value

    from django_q.brokers import get_broker
    from django_q.monitor import monitor
    from django_q.signing import SignedPackage
    from django_q.worker import worker

    broker = get_broker()
    ((ack_id, pack),) = broker.dequeue()
    task = SignedPackage.loads(pack)
    task["ack_id"] = ack_id
    tasks, results = Queue(), Queue()
    tasks.put(task)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results, broker)
    return task


def test_a_failed_records_task_leaves_the_job_held_and_says_so_until_a_retry_succeeds(
        client_for, staff, lab_a, provisioned_s3, settings, monkeypatch,
        django_capture_on_commit_callbacks):
    """Without the records key here the objects are held by a queued records task. If storage is
    down when it runs, the job stays held (archiving and purging refuse it), the task is in the
    queue's failed tasks and the job's page says the objects are not yet held and why; placing the
    hold again queues the task again, which then holds them."""
    from django.test import override_settings
    from django_q.conf import Conf
    from django_q.models import Failure

    from jobs.records import holds
    from jobs.records.tests.test_archiving import make_job as make_stored_job
    from storage import versions
    from storage.buckets import bucket_name
    from storage.seaweed import free_port

    if Conf.ORM is None:
        pytest.skip("the queue is Redis here; this test runs the ORM broker's queue")
    job = make_stored_job(lab_a)
    settings.MINIO_ROLE_KEYS = {"web": (settings.MINIO_ACCESS_KEY, settings.MINIO_SECRET_KEY)}
    client = client_for(staff)
    place = {"action": "place_legal_hold", "apply": "1", ACTION_CHECKBOX_NAME: [str(job.pk)],
             "reason": "Litigation, case 9"}
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(CHANGELIST, place, follow=True).content.decode()
    assert "Legal hold placed on 1 job(s): TEST1; the records worker is locking" in done

    down = f"http://127.0.0.1:{free_port()}"
    with override_settings(MINIO_ENDPOINT=down, STORAGE_TIMEOUT_SECONDS=1):
        monkeypatch.setattr(Conf, "SYNC", True)   # keep this test's database connection
        run_one_queued_task()
        monkeypatch.setattr(Conf, "SYNC", False)
    (failed,) = Failure.objects.filter(group=f"legal-hold-{job.pk}")
    assert "cannot reach the S3 server at " + down in failed.result
    assert Job.objects.get(pk=job.pk).legal_hold
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert ("stored objects not yet held: queued for the records worker; its last attempt "
            f"failed at {failed.stopped:%Y-%m-%d %H:%M} UTC (cannot reach the S3 server at "
            + down) in page
    assert not AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_OBJECTS_HELD).exists()

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(CHANGELIST, {**place, "reason": "again"}, follow=True)
    assert "Stored objects of 1 job(s) queued again for the records worker: TEST1" in \
        again.content.decode()
    monkeypatch.setattr(Conf, "SYNC", True)
    run_one_queued_task()
    monkeypatch.setattr(Conf, "SYNC", False)
    assert {versions.legal_hold_on(bucket_name(role), key, version_id)
            for role, key, version_id in holds.held_versions(job)} == {True}
    (held,) = AuditEvent.objects.filter(action=audit_actions.LEGAL_HOLD_OBJECTS_HELD)
    assert held.details["object_versions_held"] == {"raw": 0, "results": 4, "archives": 0}
    page = client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "not yet held" not in page and "under S3 legal hold" in page
    assert Job.objects.get(pk=job.pk).legal_hold_reason == "Litigation, case 9"
