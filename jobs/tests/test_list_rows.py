"""The sample list's and the review queue's rows, built in Python by jobs/templatetags/list_rows.py,
against the template markup they replaced (kept here as the reference)."""

import re
from datetime import datetime, timedelta, timezone as tz

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template

from jobs.intake.selectors import SampleRow
from jobs.models import Job, Report, Sample
from jobs.models.intake import SampleStage
from jobs.templatetags.list_rows import qc_verdict, review_row, sample_row

HOSTILE = '<img src=x onerror="alert(1)">&amp;'
WHEN = datetime(2026, 3, 2, 23, 30, tzinfo=tz.utc)

VERDICT_TEMPLATE = (
    '{% if job.qc_verdict %}<span class="status verdict-{{ job.qc_verdict }}" data-qc-verdict="'
    '{{ job.qc_verdict }}">{{ job.get_qc_verdict_display }}</span>{% else %}<span class="muted" '
    'data-qc-verdict="">–</span>{% endif %}')
SAMPLE_ROW_TEMPLATE = """{% load portal_format %}{% with s=r.sample job=r.job %}
    <tr>
      <td><a href="{{ r.url }}">{{ s.name }}</a></td>
      <td>{{ s.external_id }}</td>
      <td><span class="status status-{{ r.stage.code }}" data-sample-stage="{{ r.stage.code }}">{{ r.stage.label }}</span></td>
      <td>{% if job %}<a href="{{ r.job_url }}"><span class="status status-{{ job.status }}">{{ job.get_status_display }}</span></a>{% if r.analyses > 1 %} <span class="muted small">({{ r.analyses }} analyses)</span>{% endif %}{% else %}–{% endif %}</td>
      <td>{% if job %}VERDICT{% else %}–{% endif %}</td>
      <td>{% if r.turnaround %}{{ r.turnaround|duration_short }}{% if not r.signed_out %} <span class="muted small">(not signed out)</span>{% endif %}{% else %}–{% endif %}</td>
      <td>{% if r.reads_r1 is not None %}{{ r.reads_r1|floatformat:"0g" }}{% else %}–{% endif %}</td>
      <td>{{ s.created_at|date:"Y-m-d H:i" }}</td>
      <td>{{ s.created_by.email }}</td>
    </tr>
  {% endwith %}""".replace("VERDICT", VERDICT_TEMPLATE)
REVIEW_ROW_TEMPLATE = """
    <tr data-report="{{ r.pk }}">
      <td>{{ r.job.sample.name }}</td><td>{{ r.job.sample.external_id }}</td><td>v{{ r.version }}</td>
      <td>VERDICT</td>
      <td>{{ r.job.finished_at|date:"Y-m-d H:i" }}</td><td>{{ r.created_at|timesince }}</td>
      <td>{{ r.job.submitted_by.email }}</td>
      <td><a href="{{ url }}">Review</a></td>
    </tr>""".replace("VERDICT", VERDICT_TEMPLATE.replace("job.", "r.job."))


def same_markup(html: str) -> str:
    """The markup without the template's layout whitespace between tags."""
    return re.sub(r">\s+<", "><", html.strip())


def sample(name=HOSTILE, email="clin@lab.test"):
    found = Sample(name=name, external_id=HOSTILE, created_at=WHEN)
    found.created_by = get_user_model()(email=email)
    return found


def job(status="succeeded", verdict="warn"):
    return Job(status=status, qc_verdict=verdict, finished_at=WHEN + timedelta(hours=5))


ROWS = [
    dict(job=None, analyses=0, turnaround=None, signed_out=False, reads_r1=None,
         stage=SampleStage("ready", "Ready to submit")),
    dict(job=job(), analyses=1, turnaround=timedelta(days=2, hours=3), signed_out=True,
         reads_r1=12_345_678, stage=SampleStage("signed_out", "Report signed out")),
    dict(job=job("running", ""), analyses=3, turnaround=timedelta(minutes=42), signed_out=False,
         reads_r1=0, stage=SampleStage("running", HOSTILE)),
    dict(job=job("failed", "fail"), analyses=2, turnaround=timedelta(0), signed_out=False,
         reads_r1=7, stage=SampleStage("failed", "Analysis failed")),
]


@pytest.mark.parametrize("fields", ROWS)
def test_a_sample_row_is_the_templates_markup(fields):
    row = SampleRow(sample=sample(), url='/labs/a/samples/1/?x="1"&y=2', job_url="/j/<2>",
                    **fields)
    expected = Template(SAMPLE_ROW_TEMPLATE).render(Context({"r": row}))
    assert same_markup(sample_row(row)) == same_markup(expected)


@pytest.mark.parametrize("verdict,finished,created", [
    ("pass", WHEN, WHEN - timedelta(days=3)), ("", None, WHEN), ("fail", WHEN, None)])
def test_a_review_row_is_the_templates_markup(verdict, finished, created):
    report = Report(id=41, version=2, created_at=created, job_id=7)
    report.job = Job(id=7, status="succeeded", qc_verdict=verdict, finished_at=finished)
    report.job.sample = sample()
    report.job.submitted_by = get_user_model()(email="<b>@lab.test")
    url = "/labs/a/jobs/{id}/report/"
    expected = Template(REVIEW_ROW_TEMPLATE).render(
        Context({"r": report, "url": url.format(id=7)}))
    html = review_row(report, url)
    assert same_markup(html) == same_markup(expected)
    assert "<b>" not in html and "&lt;b&gt;@lab.test" in html


def test_every_shown_value_is_escaped():
    row = SampleRow(sample=sample(email=HOSTILE), url=HOSTILE, job_url=HOSTILE,
                    **{**ROWS[1], "stage": SampleStage(HOSTILE, HOSTILE)})
    html = str(sample_row(row))
    assert "<img" not in html and 'onerror="' not in html
    assert html.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;") == 8
    assert str(qc_verdict(Job(qc_verdict=""))) == '<span class="muted" data-qc-verdict="">–</span>'
