"""What assumed one analysis per sample, with two: the review queue, the sample list and the
month's usage count each analysis once and the sample once."""

import pytest
from django.utils import timezone

from jobs.models import Job, Report
from jobs.records.usage import usage_report
from jobs.runs.tests import test_sample_reanalyse as reanalysis

pytestmark = pytest.mark.django_db(transaction=True)
analysed = reanalysis.analysed      # the fixture: a sample analysed once, its report signed
reanalyse_url = reanalysis.reanalyse_url


def test_one_sample_with_two_analyses_in_lists_queue_and_usage(client_for, manager, analysed):
    first = Job.objects.get()
    client_for(manager).post(reanalyse_url(analysed), {"reason": "new panel"})
    new = Job.objects.exclude(pk=first.pk).get()
    Job.objects.filter(pk=new.pk).update(status="succeeded", finished_at=timezone.now(),
                                         qc_verdict="fail")
    Report.objects.create(lab=analysed.lab, job=new, version=1)

    # The review queue lists the new analysis's report; the first one's stays signed out.
    queue = client_for(manager).get("/labs/lab-a/reviews/").content.decode()
    assert queue.count("<tr data-report=") == 1
    assert f"/jobs/{new.pk}/report/" in queue and 'data-qc-verdict="fail"' in queue
    # The sample list shows where the sample is now: its current analysis awaits review.
    listing = client_for(manager).get("/labs/lab-a/samples/").content.decode()
    assert 'data-sample-stage="pending_review">Awaiting review' in listing
    assert "(2 analyses)" in listing and 'data-qc-verdict="fail"' in listing
    # Usage: one sample submitted, two jobs of it counted in their months.
    report = usage_report(month=timezone.now().date().replace(day=1))
    row = next(r for r in report.rows if r.lab == analysed.lab)
    assert row.samples_submitted == 1
    # Each analysis has its own keys: nothing of the first is overwritten.
    assert new.pk != first.pk and Job.objects.filter(sample=analysed).count() == 2


def test_archiving_the_first_analysis_leaves_the_second_whole(provisioned_s3, lab_a, client_for,
                                                              manager):
    from jobs.models import JobOutput
    from jobs.records import archiving
    from jobs.records.tests.test_archiving import hot_objects, make_job, put
    from storage import keys
    from storage.buckets import bucket_name

    first = make_job(lab_a)
    second = Job.objects.create(lab=lab_a, sample=first.sample, submitted_by=manager.user,
                                status="succeeded", finished_at=timezone.now(),
                                reanalysis_reason="new caller")
    data = b"ID\tCHROM\tPOS\tREF\tALT\nv1\tchr1\t1\tA\tG\n"
    key = keys.job_output_key(lab_a, second.pk, "TEST1_Final_.txt")
    JobOutput.objects.create(lab=lab_a, job=second, path="TEST1_Final_.txt",
                             bucket_role="results", key=key, size=len(data),
                             sha256=put(bucket_name("results"), key, data),
                             verified_at=timezone.now())
    assert key != first.outputs.get(path="TEST1_Final_.txt").key, "each analysis has its keys"

    archiving.job_archive(job_id=first.pk)
    first.refresh_from_db()
    assert first.status == "archived"
    assert hot_objects(second) == {"TEST1_Final_.txt": data}, "the second analysis is untouched"
    assert second.outputs.count() == 1
    sample = first.sample.__class__.objects.get(pk=first.sample_id)
    assert sample.latest_job == second and sample.stage.label == "Awaiting review"
    page = client_for(manager).get(f"/labs/lab-a/samples/{sample.pk}/").content.decode()
    assert f'<tr data-job="{second.pk}" data-current-job>' in page
    assert "Archived" in page
