"""Reads for the review pages."""

from jobs.models import ReportStatus


def reports_pending_review(lab) -> list:
    """Reports awaiting a manager's sign-out, oldest first (the queue's order)."""
    return list(lab.reports.filter(status=ReportStatus.PENDING_REVIEW)
                .select_related("job__sample", "job__submitted_by").order_by("created_at"))


def report_versions(membership, job) -> list:
    """The versions of the job's report that the member may see (`Report.visible_to`), newest
    first."""
    return [report for report in job.reports.select_related("signed_by").order_by("-version")
            if report.visible_to(membership)]
