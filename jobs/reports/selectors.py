"""Reads for the review pages, and the lab home page's lists of reports and samples."""

from django.db.models import Count, Window

from jobs.models import ReportStatus, SampleStatus

HOME_LIST_LENGTH = 8


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


def lab_home_lists(membership, *, limit: int = HOME_LIST_LENGTH) -> dict:
    """The lab home page's lists, each its newest (or, for the review queue, oldest) `limit`
    rows with the total: reports awaiting review (managers only, the queue's order), reports
    signed out (everyone), samples whose files are verified and await submission (everyone).
    Three queries however large the lab: each list is a LIMIT on an index, its total counted
    in the same query (a window count, before the LIMIT)."""
    lab = membership.lab
    lists = {}
    if membership.is_manager:
        lists["pending_reviews"], lists["pending_review_total"] = _first_and_total(
            reports_pending_review(lab).defer(*REPORT_TEXTS), limit)
    lists["signed_reports"] = list(
        lab.reports.filter(status=ReportStatus.SIGNED_OUT).defer(*REPORT_TEXTS)
        .select_related("job__sample", "signed_by").order_by("-signed_at", "-id")[:limit])
    lists["ready_samples"], lists["ready_total"] = _first_and_total(
        lab.samples.filter(status=SampleStatus.READY).order_by("-created_at", "-id"), limit)
    return lists


# A report's texts and digests, which the home page's lists never show.
REPORT_TEXTS = ("interpretation", "comment", "amendment_reason")


def _first_and_total(rows, limit: int) -> tuple[list, int]:
    found = list(rows.annotate(total=Window(Count("id")))[:limit])
    return found, (found[0].total if found else 0)
