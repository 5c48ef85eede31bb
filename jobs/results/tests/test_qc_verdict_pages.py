"""A run's QC verdict where people decide: a failing run is not a green "Succeeded" with warning
tiles only; the job page, the sample list, the review queue and the review page say so."""

import pytest
from django.utils import timezone

from jobs.models import Job, Report, Sample
from jobs.results.qc import qc_fail_limits, qc_verdict

pytestmark = pytest.mark.django_db

QC = {"schema": "wes-portal/qc/1", "sample": "S1", "reads_before_filtering": 1000,
      "reads_after_filtering": 990, "q30_rate_before": 0.93, "q30_rate_after": 0.95,
      "mapped_pct": 0.0, "properly_paired_pct": 0.0, "duplication_pct": 0.0,
      "mean_target_depth": 0.0, "pct_targets_ge_20x": 0.0, "pct_target_bases_ge_20x": 0.0,
      "targets": 10, "target_bases": 1000,
      "thresholds": {"mapped_pct": {"min": 95}, "mean_target_depth": {"min": 50}},
      "status": {"mapped_pct": "warn", "mean_target_depth": "warn"}, "overall": "warn"}


@pytest.fixture
def unmapped(manager, clinician):
    """A succeeded run in which no read mapped, its report waiting for review."""
    qc = {**QC, "fail_limits": qc_fail_limits(None)}
    sample = Sample.objects.create(lab=manager.lab, name="S1", external_id="E1", sex="female",
                                   clinical_indication="x", created_by=clinician.user,
                                   consent_confirmed_at=timezone.now(), status="submitted")
    job = Job.objects.create(lab=manager.lab, sample=sample, submitted_by=clinician.user,
                             status="succeeded", finished_at=timezone.now(), qc=qc,
                             qc_verdict=qc_verdict(qc))
    Report.objects.create(lab=manager.lab, job=job, version=1)
    return job


def test_the_job_page_shows_a_failed_verdict_and_the_failing_figures(client_for, manager,
                                                                     unmapped):
    assert unmapped.qc_verdict == "fail"
    html = client_for(manager).get(f"/labs/lab-a/jobs/{unmapped.pk}/").content.decode()
    assert 'data-qc-verdict="fail">QC failed</span>' in html
    assert html.index("data-job-verdict") < html.index("data-job-status"), "before the status"
    assert "QC failed: Reads mapped, Mean target depth, Target bases ≥ 20× are past" in html
    assert 'class="qc-figure qc-fail" data-qc-key="mapped_pct"' in html
    assert "(goal ≥ 95.00%; fails &lt; 80.00%)" in html


def test_the_sample_list_and_the_review_queue_show_the_verdict(client_for, manager, unmapped):
    listing = client_for(manager).get("/labs/lab-a/samples/").content.decode()
    assert 'data-qc-verdict="fail">QC failed</span>' in listing
    queue = client_for(manager).get("/labs/lab-a/reviews/").content.decode()
    assert 'data-qc-verdict="fail">QC failed</span>' in queue


def test_the_review_page_warns_the_manager_before_sign_out(client_for, manager, unmapped):
    html = client_for(manager).get(f"/labs/lab-a/jobs/{unmapped.pk}/report/").content.decode()
    assert "data-qc-review-warning" in html
    assert "QC failed for this analysis</strong>: Reads mapped, Mean target depth" in html
    assert html.index("data-qc-review-warning") < html.index("data-current-report")


def test_jobs_published_before_the_verdict_get_one_by_migration(unmapped):
    import importlib

    from django.apps import apps

    Job.objects.filter(pk=unmapped.pk).update(qc=QC, qc_verdict="")   # as published before
    importlib.import_module("jobs.migrations.0013_lifecycle_qc_verdict_reanalysis") \
        .verdicts_of_published_jobs(apps, None)
    unmapped.refresh_from_db()
    assert unmapped.qc_verdict == "fail"
    assert unmapped.qc["fail_limits"] == qc_fail_limits(None)
