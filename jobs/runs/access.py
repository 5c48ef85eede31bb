"""Who may touch which job: looked up inside the member's lab, so another lab's job and a job that
does not exist give the same 404. Who may cancel or retry is the job's own rule
(`Job.can_cancel(membership)`, `Job.can_retry(membership)`)."""

from django.core.exceptions import ValidationError
from django.http import Http404

from jobs.models import Job
from tenants.models import Membership


def access_job(membership: Membership, job_id) -> Job:
    try:
        return membership.lab.jobs.select_related("sample", "submitted_by").get(pk=job_id)
    except (Job.DoesNotExist, ValidationError):
        raise Http404("No such job") from None
