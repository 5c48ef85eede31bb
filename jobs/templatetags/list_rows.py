"""The rows of the sample list and the review queue, and the QC verdict badge they and other pages
show, built in Python: fifty rows of nine cells as template nodes (an include and a URL per row
among them) were a third of those pages' time (bench/pages.py --profile). Every value goes
through html.escape (what Django's escape does for a plain string); the markup is what the
templates had (jobs/tests/test_list_rows.py holds them to it)."""

from html import escape

from django import template
from django.template.defaultfilters import floatformat
from django.utils.dateformat import format as format_date
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.timezone import localtime

from common.durations import duration_short

register = template.Library()

DASH = "–"


def _e(value) -> str:
    return escape(str(value))


def _when(value) -> str:
    """As the template's `date:"Y-m-d H:i"` shows it: in the portal's time zone; blank for none."""
    return format_date(localtime(value), "Y-m-d H:i") if value else ""


@register.simple_tag
def qc_verdict(job) -> SafeString:
    """The analysis's overall QC verdict as a badge (`data-qc-verdict`), or a dash."""
    if not job.qc_verdict:
        return mark_safe('<span class="muted" data-qc-verdict="">–</span>')
    verdict = _e(job.qc_verdict)
    return mark_safe(f'<span class="status verdict-{verdict}" data-qc-verdict="{verdict}">'
                     f'{_e(job.get_qc_verdict_display())}</span>')


@register.simple_tag
def sample_row(r) -> SafeString:
    """One row of the sample list, from a jobs.intake.selectors.SampleRow."""
    s, job = r.sample, r.job
    if job:
        analysis = (f'<a href="{_e(r.job_url)}"><span class="status status-{_e(job.status)}">'
                    f'{_e(job.get_status_display())}</span></a>')
        if r.analyses > 1:
            analysis += f' <span class="muted small">({_e(r.analyses)} analyses)</span>'
    if r.turnaround:
        turnaround = _e(duration_short(r.turnaround))
        if not r.signed_out:
            turnaround += ' <span class="muted small">(not signed out)</span>'
    reads = DASH if r.reads_r1 is None else _e(floatformat(r.reads_r1, "0g"))
    stage = _e(r.stage.code)
    return mark_safe(
        f'<tr><td><a href="{_e(r.url)}">{_e(s.name)}</a></td><td>{_e(s.external_id)}</td>'
        f'<td><span class="status status-{stage}" data-sample-stage="{stage}">'
        f'{_e(r.stage.label)}</span></td>'
        f'<td>{analysis if job else DASH}</td><td>{qc_verdict(job) if job else DASH}</td>'
        f'<td>{turnaround if r.turnaround else DASH}</td><td>{reads}</td>'
        f'<td>{_when(s.created_at)}</td><td>{_e(s.created_by.email)}</td></tr>')


@register.simple_tag
def review_row(report, review_url: str) -> SafeString:
    """One row of the review queue; `review_url` has `{id}` where the job's id goes."""
    job = report.job
    return mark_safe(
        f'<tr data-report="{_e(report.pk)}"><td>{_e(job.sample.name)}</td>'
        f'<td>{_e(job.sample.external_id)}</td><td>v{_e(report.version)}</td>'
        f'<td>{qc_verdict(job)}</td><td>{_when(job.finished_at)}</td>'
        f'<td>{_e(timesince(report.created_at)) if report.created_at else ""}</td>'
        f'<td>{_e(job.submitted_by.email)}</td>'
        f'<td><a href="{_e(review_url.format(id=report.job_id))}">Review</a></td></tr>')
