"""A lab's home page lists what needs doing: reports awaiting review (managers), reports signed
out and samples ready to submit (everyone), each list bounded and in a fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobStatus, Report, ReportStatus, Sample, SampleStatus
from jobs.reports.selectors import HOME_LIST_LENGTH
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


def stock(lab, user, n: int, prefix: str = "S"):
    """n samples of each kind: ready, with a report pending review, with a signed report."""
    for i in range(n):
        Sample.objects.create(lab=lab, name=f"{prefix}READY{i}", external_id=f"R-{i}",
                              sex="female", clinical_indication="x", created_by=user,
                              consent_confirmed_at=timezone.now(), status=SampleStatus.READY)
        for kind in ("PEND", "SIGN"):
            sample = Sample.objects.create(lab=lab, name=f"{prefix}{kind}{i}",
                                           external_id=f"{kind}-{i}", sex="male",
                                           clinical_indication="x", created_by=user,
                                           consent_confirmed_at=timezone.now(),
                                           status=SampleStatus.SUBMITTED)
            job = Job.objects.create(id=sample.job_id, lab=lab, sample=sample, submitted_by=user,
                                     status=JobStatus.SUCCEEDED)
            signed = kind == "SIGN"
            Report.objects.create(lab=lab, job=job, version=1,
                                  status=ReportStatus.SIGNED_OUT if signed
                                  else ReportStatus.PENDING_REVIEW,
                                  signed_by=user if signed else None,
                                  signed_at=timezone.now() if signed else None)


def home(client):
    response = client.get("/labs/lab-a/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_manager_sees_reports_to_review_signed_reports_and_ready_samples(client_for, manager):
    stock(manager.lab, manager.user, 2)
    html = home(client_for(manager))
    pending = Report.objects.get(job__sample__name="SPEND0")
    assert (f'<tr data-pending-review="SPEND0"><td><a href="/labs/lab-a/jobs/{pending.job_id}'
            '/report/">SPEND0</a>') in html
    assert "Reports to review (2)" in html
    signed = Report.objects.get(job__sample__name="SSIGN1")
    assert (f'<li data-signed-report="SSIGN1"><a href="/labs/lab-a/jobs/{signed.job_id}/report/">'
            'SSIGN1</a>') in html
    ready = Sample.objects.get(name="SREADY0")
    assert f'<li data-ready-sample="SREADY0"><a href="/labs/lab-a/samples/{ready.pk}/">' in html
    assert "Ready to submit (2)" in html
    event = AuditEvent.objects.get(action=audit_actions.LAB_HOME_VIEWED)
    assert event.phi_accessed and event.details == {"pending_reviews": 2, "signed_reports": 2,
                                                    "ready_samples": 2}


def test_a_clinician_sees_signed_reports_and_ready_samples_but_no_drafts(client_for, clinician,
                                                                       manager):
    stock(manager.lab, manager.user, 2)
    html = home(client_for(clinician))
    assert "data-pending-review" not in html and "Reports to review" not in html
    assert "SPEND" not in html
    assert 'data-signed-report="SSIGN0"' in html and 'data-ready-sample="SREADY1"' in html


def test_the_lists_are_bounded_and_the_queries_do_not_grow(client_for, manager):
    client = client_for(manager)
    stock(manager.lab, manager.user, 1, prefix="A")
    home(client)
    with CaptureQueriesContext(connection) as few:
        home(client)
    stock(manager.lab, manager.user, HOME_LIST_LENGTH + 4, prefix="B")
    with CaptureQueriesContext(connection) as many:
        html = home(client)
    assert len(many) == len(few), [q["sql"] for q in many]  # however many rows there are
    assert html.count("data-pending-review=") == HOME_LIST_LENGTH
    assert html.count("data-signed-report=") == HOME_LIST_LENGTH
    assert html.count("data-ready-sample=") == HOME_LIST_LENGTH
    assert f"All {HOME_LIST_LENGTH + 5} reports awaiting review" in html
    assert f"{HOME_LIST_LENGTH + 5} in all; the newest {HOME_LIST_LENGTH} are listed." in html
