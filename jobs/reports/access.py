"""Who may touch which report version: looked up inside the member's lab and the job named in the
URL; another lab's report, a report that does not exist and a draft a clinician may not see all
give the same 404."""

from django.core.exceptions import ValidationError
from django.http import Http404

from jobs.models import Report
from tenants.models import Membership


def access_report(membership: Membership, job_id, report_id) -> Report:
    """A report version of one of the lab's jobs. A draft (pending review) does not exist for a
    clinician: it answers 404 like a report of another lab."""
    try:
        report = membership.lab.reports.select_related("job__sample", "lab", "signed_by").get(
            pk=report_id, job_id=job_id)
    except (Report.DoesNotExist, ValidationError):
        raise Http404("No such report") from None
    if not report.visible_to(membership):
        raise Http404("No such report")
    return report


def access_report_by_id(membership: Membership, report_id) -> Report:
    """A report version of one of the lab's jobs, by its id alone (the API's report URLs); the
    same rules as access_report."""
    try:
        job_id = membership.lab.reports.values_list("job_id", flat=True).get(pk=report_id)
    except (Report.DoesNotExist, ValidationError):
        raise Http404("No such report") from None
    return access_report(membership, job_id, report_id)
