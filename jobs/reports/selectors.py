"""Reads for the review pages."""

from jobs.models import ReportStatus


def reports_pending_review(lab):
    """Reports awaiting a manager's sign-out, oldest first (the queue's order), as a query: the
    page reads one page of it (index report_lab_queue). Each row's job comes with it, QC verdict
    included (`Job.qc_verdict`), so the page costs the same queries for any number of rows; a
    sample analysed again may have a report of each analysis waiting."""
    return (lab.reports.filter(status=ReportStatus.PENDING_REVIEW)
            .select_related("job__sample", "job__submitted_by").order_by("created_at", "id"))


def report_versions(membership, job) -> list:
    """The versions of the job's report that the member may see (`Report.visible_to`), newest
    first."""
    return [report for report in job.reports.select_related("signed_by").order_by("-version")
            if report.visible_to(membership)]
