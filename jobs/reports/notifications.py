"""Email notifications: the submitter when a job fails or its report is signed out, the lab's
managers when a report awaits review. Each member can turn them off (Membership.email_notifications).

Emails carry the sample name and a link, never results: the reader signs in to see them.
Sent from the worker (task `jobs.tasks.send_notification`, queued when the triggering
transaction commits); a mail server that is down is
logged and does not undo anything.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from jobs.models import Job, Report
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record
from tenants.models import Membership, Role

log = logging.getLogger(__name__)

def _recipients(job: Job, kind: str) -> list[Membership]:
    members = Membership.objects.filter(lab=job.lab, email_notifications=True,
                                        user__is_active=True).select_related("user")
    if kind == "review_pending":
        return list(members.filter(role=Role.MANAGER))
    return list(members.filter(user=job.submitted_by))


def _link(view: str, *args) -> str:
    return urljoin(settings.WES_PUBLIC_URL, reverse(view, args=args))


def notify(kind: str, object_id) -> int:
    """Send one notification; returns how many emails went out."""
    if kind == "job_failed":
        job = Job.objects.select_related("lab", "sample").get(pk=object_id)
        report = None
        link = _link("jobs:job_detail", job.lab.slug, job.pk)
    elif kind in ("review_pending", "report_signed"):
        report = Report.objects.select_related("job__lab", "job__sample").get(pk=object_id)
        job = report.job
        link = _link("jobs:report_detail", job.lab.slug, job.pk)
    else:
        raise ValueError(f"unknown notification {kind!r}")
    recipients = _recipients(job, kind)
    if not recipients:
        return 0
    context = {"job": job, "report": report, "link": link, "lab": job.lab,
               "settings_link": _link("tenants:notification_settings", job.lab.slug)}
    subject = render_to_string(f"jobs/email/{kind}_subject.txt", context).strip()
    body = render_to_string(f"jobs/email/{kind}.txt", context)
    sent = 0
    for member in recipients:
        try:
            sent += send_mail(subject, body, None, [member.user.email])
        except OSError as exc:  # SMTP down: the state change stands; the page shows it anyway
            log.warning("notification %s for %s to %s not sent: %s", kind, object_id,
                        member.user.email, exc)
    audit_record(actor=SYSTEM, action=audit_actions.NOTIFICATION_SENT, lab=job.lab,
                 resource_type="job", resource_id=job.pk,
                 details={"kind": kind, "job": str(job.pk), "sample": str(job.sample_id),
                          "recipients": [m.user.email for m in recipients], "sent": sent})
    return sent
