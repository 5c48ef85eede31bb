"""Who may touch which output file: looked up inside the member's lab and the job named in the URL;
another lab's file and a file that does not exist give the same 404. Whether the member may download
it yet is the job's rule (`Job.can_download(membership)`)."""

from django.core.exceptions import ValidationError
from django.http import Http404

from jobs.models import JobOutput
from tenants.models import Membership


def access_job_output(membership: Membership, job_id, output_id) -> JobOutput:
    """An output of one of the lab's jobs; it must belong to that very job."""
    try:
        return membership.lab.job_outputs.select_related("job", "lab").get(pk=output_id,
                                                                          job_id=job_id)
    except (JobOutput.DoesNotExist, ValidationError):
        raise Http404("No such file") from None
