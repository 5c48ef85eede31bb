"""Telling people about a scrub's new findings: one e-mail to ADMINS per run that opened any
(findings already open are not mailed again), then the registered listeners (tenants writes the
audit event; storage cannot)."""

from __future__ import annotations

import logging
from typing import Callable

from django.core.mail import mail_admins
from django.urls import NoReverseMatch, reverse

from storage.models import ScrubFinding, ScrubRun

log = logging.getLogger(__name__)

# Each listener is called with a run and its new findings (tenants audits them, tenants/apps.py).
FindingsListener = Callable[[ScrubRun, list[ScrubFinding]], None]
_LISTENERS: list[FindingsListener] = []


def register_findings_listener(listener: FindingsListener) -> FindingsListener:
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener

LISTED = 50     # findings named in one e-mail; the admin list has them all


def _admin_path() -> str:
    try:
        return reverse("admin:wes_storage_scrubfinding_changelist") + "?resolved_at__isnull=True"
    except NoReverseMatch:
        return ""


def findings_mail(run: ScrubRun, new: list[ScrubFinding]) -> tuple[str, str]:
    """Subject and body of the e-mail for a run's new findings."""
    subject = (f"Storage scrub: {len(new)} object{'s' if len(new) != 1 else ''} missing, "
               "changed or unreadable")
    lines = [f"Scrub run {run.pk} ({run.trigger}, started {run.started_at:%Y-%m-%d %H:%M} UTC) "
             f"found {len(new)} new problem{'s' if len(new) != 1 else ''} after checking "
             f"{run.objects_checked:,} objects:", ""]
    for finding in new[:LISTED]:
        lines += [f"- {finding.get_kind_display()}: {finding.bucket}/{finding.key}",
                  f"  expected {finding.expected}",
                  f"  found    {finding.found}"
                  + (f" (version {finding.version_id})" if finding.version_id else "")]
    if len(new) > LISTED:
        lines.append(f"... and {len(new) - LISTED} more.")
    lines += ["", "In a versioned bucket an earlier, intact version may still be stored: see "
              "\"Storage scrub\" in docs/operations.md for what to do."]
    path = _admin_path()
    if path:
        lines.append(f"Open findings in the admin: {path}")
    return subject, "\n".join(lines)


def report_new_findings(run: ScrubRun, new: list[ScrubFinding]) -> None:
    if not new:
        return
    subject, body = findings_mail(run, new)
    try:
        mail_admins(subject, body)
    except Exception:   # a mail server that is down must not hide the findings from the rest
        log.exception("could not mail the storage scrub's findings")
    for listener in _LISTENERS:
        try:
            listener(run, new)
        except Exception:
            log.exception("storage scrub listener %r failed", listener)
