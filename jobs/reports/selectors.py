"""Reads for the review pages, and the lab home page's lists of reports and samples."""

from django.db.models import Count, Window

from jobs.models import ReportStatus, SampleStatus

HOME_LIST_LENGTH = 8


# What a row of the review queue (and of the home page's list) shows, and no more: a job's QC
# figures, steps and archive manifest, and a report's texts, are JSON and text that would be
# read and parsed for every row.
PENDING_REVIEW_FIELDS = (
    "id", "lab_id", "job_id", "version", "status", "created_at", "drafted_at",
    "job__id", "job__sample_id", "job__status", "job__qc_verdict", "job__finished_at",
    "job__submitted_by_id", "job__sample__id", "job__sample__name",
    "job__sample__external_id", "job__submitted_by__id", "job__submitted_by__email")


def reports_pending_review(lab):
    """Reports awaiting a manager's sign-out, oldest first (the queue's order), as a query: the
    page reads one page of it (index report_lab_queue). Each row's job comes with it, QC verdict
    included (`Job.qc_verdict`), so the page costs the same queries for any number of rows; a
    sample analysed again may have a report of each analysis waiting."""
    return (lab.reports.filter(status=ReportStatus.PENDING_REVIEW)
            .select_related("job__sample", "job__submitted_by").only(*PENDING_REVIEW_FIELDS)
            .order_by("created_at", "id"))


def report_versions(membership, job) -> list:
    """The versions of the job's report that the member may see (`Report.visible_to`), newest
    first."""
    return [report for report in job.reports.select_related("signed_by").order_by("-version")
            if report.visible_to(membership)]


def lab_home_lists(membership, *, limit: int = HOME_LIST_LENGTH) -> dict:
    """The lab home page's lists, each its newest (or, for the review queue, oldest) `limit`
    rows with the total: reports awaiting review (managers only, the queue's order), reports
    signed out (everyone), samples whose files are verified and await submission (everyone).
    Each list is a LIMIT on an index. The samples' total is counted in the same query (a window
    count, before the LIMIT); the review queue's by a count of its own, from the index alone:
    a window there would join every waiting report to its job, sample and submitter first."""
    lab = membership.lab
    lists = {}
    if membership.is_manager:
        lists["pending_reviews"] = list(reports_pending_review(lab)[:limit])
        lists["pending_review_total"] = lab.reports.filter(
            status=ReportStatus.PENDING_REVIEW).count()
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
