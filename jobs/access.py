"""Who may touch which sample. Same rules as tenants/access.py: look up inside the member's lab;
another lab's sample and a sample that does not exist give the same 404."""

from django.core.exceptions import ValidationError
from django.http import Http404

from jobs.models import Job, JobOutput, Report, ReportStatus, Sample, SampleFile
from tenants.models import Membership


def access_sample(membership: Membership, sample_id) -> Sample:
    try:
        return membership.lab.samples.prefetch_related("files").get(pk=sample_id)
    except (Sample.DoesNotExist, ValidationError):
        raise Http404("No such sample") from None


def access_sample_file(membership: Membership, sample_id, file_id) -> SampleFile:
    """A FASTQ of one of the lab's samples; the file must belong to that very sample."""
    try:
        return membership.lab.sample_files.select_related("sample", "lab").get(
            pk=file_id, sample_id=sample_id)
    except (SampleFile.DoesNotExist, ValidationError):
        raise Http404("No such file") from None


def access_job(membership: Membership, job_id) -> Job:
    try:
        return membership.lab.jobs.select_related("sample", "submitted_by").get(pk=job_id)
    except (Job.DoesNotExist, ValidationError):
        raise Http404("No such job") from None


def access_job_output(membership: Membership, job_id, output_id) -> JobOutput:
    """An output of one of the lab's jobs; it must belong to that very job."""
    try:
        return membership.lab.job_outputs.select_related("job", "lab").get(pk=output_id,
                                                                          job_id=job_id)
    except (JobOutput.DoesNotExist, ValidationError):
        raise Http404("No such file") from None


def access_report(membership: Membership, job_id, report_id) -> Report:
    """A report version of one of the lab's jobs. A draft (pending review) does not exist for a
    clinician: it answers 404 like a report of another lab."""
    try:
        report = membership.lab.reports.select_related("job__sample", "lab", "signed_by").get(
            pk=report_id, job_id=job_id)
    except (Report.DoesNotExist, ValidationError):
        raise Http404("No such report") from None
    if report.status == ReportStatus.PENDING_REVIEW and not membership.is_manager:
        raise Http404("No such report")
    return report
