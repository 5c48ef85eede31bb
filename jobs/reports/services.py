"""Clinical reports: drafting, review, sign-out and amendment (DESIGN.md "States").

    pending_review ──sign out──> signed_out ──(amendment signed out)──> superseded
    amend: a new version pending_review (own draft PDF) that supersedes the old once signed

Rules enforced here:
- Only a lab manager signs or amends, and only after re-authenticating (password, or a code from
  their authenticator app when they use one) at the moment of signing.
- Every PDF (each draft, each signed version) is a new object key in the versioned results
  bucket: nothing already stored is overwritten. The signed PDF's signature block carries the
  SHA-256 of the draft the manager approved.
- Drafting, signing and amending are audited (patient data accessed) in the same transaction as
  the row change; notifications go out after the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from common.queue import enqueue
from jobs.models import Job, JobStatus, Report, ReportStatus
from jobs.review.selection import review_digest, selected_variants
from storage import keys, ledger, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.audit import SYSTEM, Actor, audit_record

log = logging.getLogger(__name__)

MEANING = "Reviewed and approved"


class DraftChanged(ValidationError):
    """The draft was rewritten after the signer opened it: they must read the new one first."""
DRAFT_TASK = "jobs.tasks.draft_report"


def job_metadata(job: Job) -> dict:
    """The run's metadata.json, read from the results bucket."""
    output = job.outputs.filter(path="metadata.json").first()
    if output is None:
        raise ValidationError("This job has no metadata.json, so no report can be written.")
    body = s3.open_object(bucket_name(output.bucket_role), output.key)
    try:
        return json.loads(body.read())
    except ValueError as exc:
        raise ValidationError(f"metadata.json of this job is not valid JSON: {exc}") from None
    finally:
        body.close()


def _store_pdf(report: Report, pdf: bytes, *, signed: bool) -> tuple[str, str, int]:
    digest = hashlib.sha256(pdf).hexdigest()
    job = report.job
    key = keys.report_key(job.lab, job.pk, job.sample.name, report.version, signed=signed,
                          sha256=digest)
    bucket = bucket_name("results")
    # The job row lock orders this write against placing a legal hold, which lists the objects.
    held = for_update(Job.objects).values_list("legal_hold", flat=True).get(pk=job.pk)
    existing = s3.object_info(bucket, key)
    if existing is None:
        s3.put_bytes(bucket, key, pdf, content_type="application/pdf",
                     metadata={"sha256": digest}, legal_hold=held)
    elif existing["metadata"].get("sha256") != digest:
        raise s3.StorageError(f"{key} exists with other content; refusing to overwrite it")
    ledger.record_put(bucket=bucket, key=key, size=len(pdf), lab=job.lab, job_id=job.pk,
                      sha256=digest)
    return key, digest, len(pdf)


def _render(report: Report, metadata: dict, signature=None) -> bytes:
    """The PDF of `report` from the review as it is now; sets `report.review_digest` to the
    digest of the review decisions the PDF shows."""
    from jobs.reports.content import build_report_content
    from jobs.reports.pdf import render_report_pdf

    rows = selected_variants(report.job)
    report.review_digest = review_digest(report.job, rows)
    if signature is None:
        report.drafted_at = timezone.now()
    return render_report_pdf(build_report_content(job=report.job, report=report, rows=rows,
                                                  metadata=metadata, signature=signature))


def report_draft_create(*, job_id) -> Report | None:
    """Version 1 of a succeeded job's report, pending review. Safe to run twice."""
    job = Job.objects.select_related("lab", "sample").get(pk=job_id)
    if job.status != JobStatus.SUCCEEDED:
        return None
    existing = job.reports.order_by("version").first()
    if existing is not None:
        return existing
    report = Report(lab=job.lab, job=job, version=1)
    pdf = _render(report, job_metadata(job))
    with transaction.atomic():
        for_update(Job.objects).get(pk=job.pk)
        if job.reports.exists():  # another worker got here first
            return job.reports.order_by("version").first()
        report.draft_key, report.draft_sha256, report.draft_size = \
            _store_pdf(report, pdf, signed=False)
        report.save()
        audit_record(actor=SYSTEM, action=audit_actions.REPORT_DRAFTED, lab=job.lab,
                     resource_type="report", resource_id=report.pk, phi_accessed=True,
                     details={"job": str(job.pk), "sample": str(job.sample_id), "version": 1,
                              "sha256": report.draft_sha256})
        enqueue("jobs.tasks.send_notification", "review_pending", str(report.pk))
    return report


def report_drafts_resume(*, now=None, limit: int = 100) -> int:
    """Queue the draft again for succeeded jobs still without a report some time after they
    finished: the task queued at success was lost (a worker cluster that died, a Redis that
    restarted) or failed (storage down). The reaper calls this every minute, so no succeeded job
    stays out of the review queue; the draft itself is safe to write twice."""
    now = now or timezone.now()
    ended_before = now - timedelta(seconds=settings.DRAFT_RETRY_AFTER_SECONDS)
    missing = list(Job.objects.filter(status=JobStatus.SUCCEEDED, finished_at__lt=ended_before,
                                      reports__isnull=True)
                   .order_by("finished_at").values_list("pk", flat=True)[:limit])
    for job_id in missing:
        enqueue(DRAFT_TASK, str(job_id))
    return len(missing)


def report_draft_update(*, membership, report: Report, interpretation: str,
                        result_summary: str = "", panel_version=None, request=None) -> Report:
    """A manager writes the interpretation, the result line and the panel reviewed into a pending
    draft, which is written again from the current selection: a new draft PDF, new key."""
    _require_manager(membership, report)
    if report.status != ReportStatus.PENDING_REVIEW:
        raise ValidationError("Only a report pending review can be edited; amend a signed one.")
    if panel_version is not None and panel_version.panel.lab_id != report.lab_id:
        raise PermissionDenied("That panel belongs to another lab.")
    report.interpretation = interpretation.strip()
    report.result_summary = result_summary.strip()
    report.panel_version = panel_version
    pdf = _render(report, job_metadata(report.job))
    with transaction.atomic():
        locked = for_update(Report.objects).get(pk=report.pk)
        if locked.status != ReportStatus.PENDING_REVIEW:
            raise ValidationError("The report was signed out meanwhile; reload the page.")
        report.draft_key, report.draft_sha256, report.draft_size = \
            _store_pdf(report, pdf, signed=False)
        report.save(update_fields=["interpretation", "result_summary", "panel_version",
                                   "review_digest", "drafted_at", "draft_key", "draft_sha256",
                                   "draft_size"])
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.REPORT_DRAFT_UPDATED,
                     lab=report.lab, resource_type="report", resource_id=report.pk,
                     phi_accessed=True, request=request,
                     details={"job": str(report.job_id), "sample": str(report.job.sample_id),
                              "version": report.version, "sha256": report.draft_sha256,
                              "panel": str(panel_version) if panel_version else "",
                              "review_digest": report.review_digest})
    return report


def reauthenticate(*, membership, password: str = "", code: str = "", request=None) -> None:
    """Sign-out needs the signer's own password, or a current authenticator-app code when they
    have one; a failure is audited and answered with a ValidationError. After
    settings.REPORT_REAUTH_RATE_LIMIT failures (5 in 15 minutes) even the right answer is refused
    until the oldest failure leaves the window (allauth's rate-limit machinery and cache)."""
    from allauth.core.internal import ratelimit
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    user = membership.user
    method = "totp" if code.strip() else "password"
    limit = {"action": "report_reauth_failed", "app": "allauth.account",
             "config": {"report_reauth_failed": settings.REPORT_REAUTH_RATE_LIMIT},
             "key": f"report-reauth-user-{user.pk}", "limit_get": True}
    if not ratelimit.consume(request, dry_run=True, **limit):
        audit_record(actor=Actor.for_user(user), action=audit_actions.REPORT_REAUTH_FAILED,
                     lab=membership.lab, resource_type="user", resource_id=user.pk,
                     request=request, details={"method": method, "reason": "rate limited"})
        window = ratelimit.get_rates(app=limit["app"], action=limit["action"],
                                     config=limit["config"])[0]
        raise ValidationError(
            f"Too many wrong passwords or codes: signing out is locked for "
            f"{int(window.duration) // 60} minutes after {window.amount} failures. Nothing was "
            f"signed; wait, then try again.")
    ok = False
    if code.strip():
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        ok = totp is not None and TOTP(totp).validate_code(code.strip())
    elif password:
        ok = user.check_password(password)
    if not ok:
        ratelimit.consume(request, **limit)
        audit_record(actor=Actor.for_user(user), action=audit_actions.REPORT_REAUTH_FAILED,
                     lab=membership.lab, resource_type="user", resource_id=user.pk,
                     request=request, details={"method": method})
        raise ValidationError("Re-authentication failed: the password or code is not correct.")


def _require_manager(membership, report: Report) -> None:
    if report.lab_id != membership.lab_id:
        raise PermissionDenied("That report belongs to another lab.")
    if not membership.is_manager:
        raise PermissionDenied("Only a lab manager can review and sign reports.")


def _require_same_draft(report: Report, draft_sha256: str) -> None:
    if report.draft_sha256 != draft_sha256:
        raise DraftChanged(
            f"The draft of version {report.version} changed while you were reading it, so "
            f"nothing was signed. Read the new draft (SHA-256 {report.draft_sha256[:16]}…) and "
            "sign again.")


def _require_current_review(report: Report) -> None:
    if review_digest(report.job) != report.review_digest:
        raise ValidationError(
            "The selected variants or their classifications changed after this draft was "
            "written, so nothing was signed. Save the draft again to write it from the current "
            "review, read it, then sign.")


def _sign(report: Report, membership, comment: str, metadata: dict) -> None:
    from jobs.reports.report_data import Signature

    now = timezone.now()
    signature = Signature(signer=membership.user.get_full_name() or membership.user.email,
                          signer_email=membership.user.email, signed_at=now, meaning=MEANING,
                          comment=comment, version=report.version,
                          approved_sha256=report.draft_sha256)
    pdf = _render(report, metadata, signature)
    report.signed_key, report.signed_sha256, report.signed_size = \
        _store_pdf(report, pdf, signed=True)
    report.status, report.signed_by, report.signed_at = ReportStatus.SIGNED_OUT, membership.user, now
    report.meaning, report.comment = MEANING, comment


def report_sign_out(*, membership, report: Report, draft_sha256: str, comment: str = "",
                    password: str = "", code: str = "", request=None) -> Report:
    """A manager approves the draft they read, named by its SHA-256: re-authenticated, signed PDF
    stored, audited. A draft rewritten meanwhile (another manager saved a new interpretation) is
    refused, checked again under the row lock. Signing an amendment also marks the version it
    amends superseded, in the same transaction."""
    _require_manager(membership, report)
    if report.status != ReportStatus.PENDING_REVIEW:
        raise ValidationError("This report is not pending review.")
    _require_same_draft(report, draft_sha256)
    _require_current_review(report)
    reauthenticate(membership=membership, password=password, code=code, request=request)
    metadata = job_metadata(report.job)
    with transaction.atomic():
        report = for_update(Report.objects).select_related("job__sample", "lab") \
            .get(pk=report.pk)
        if report.status != ReportStatus.PENDING_REVIEW:
            raise ValidationError("Someone signed this report out meanwhile.")
        _require_same_draft(report, draft_sha256)
        _require_current_review(report)
        _sign(report, membership, comment.strip(), metadata)
        report.save()
        details = {"job": str(report.job_id), "sample": str(report.job.sample_id),
                   "version": report.version, "meaning": MEANING,
                   "approved_sha256": report.draft_sha256, "sha256": report.signed_sha256,
                   "comment": report.comment[:500]}
        if report.amends_id:
            Report.objects.filter(pk=report.amends_id).update(status=ReportStatus.SUPERSEDED)
            details.update(supersedes=str(report.amends_id),
                           reason=report.amendment_reason[:500])
        audit_record(actor=Actor.for_user(membership.user),
                     action=audit_actions.REPORT_AMENDED if report.amends_id
                     else audit_actions.REPORT_SIGNED_OUT,
                     lab=report.lab, resource_type="report", resource_id=report.pk,
                     phi_accessed=True, request=request, details=details)
        enqueue("jobs.tasks.send_notification", "report_signed", str(report.pk))
    return report


def report_amend(*, membership, report: Report, interpretation: str, reason: str,
                 request=None) -> Report:
    """Start an amendment of the current signed version: a new version pending review, with its
    own draft PDF. The signed version stays current until the amendment is signed out."""
    _require_manager(membership, report)
    if report.status != ReportStatus.SIGNED_OUT:
        raise ValidationError("Only the current signed version of a report can be amended.")
    if not reason.strip():
        raise ValidationError("Say why the report is amended.")
    metadata = job_metadata(report.job)
    new = Report(lab=report.lab, job=report.job, version=report.version + 1, amends=report,
                 interpretation=interpretation.strip(), amendment_reason=reason.strip(),
                 result_summary=report.result_summary, panel_version=report.panel_version)
    draft = _render(new, metadata)
    with transaction.atomic():
        for_update(Job.objects).get(pk=report.job_id)
        if report.job.reports.filter(version__gt=report.version).exists():
            raise ValidationError("An amendment of this version already exists; review it.")
        new.draft_key, new.draft_sha256, new.draft_size = _store_pdf(new, draft, signed=False)
        new.save()
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.REPORT_DRAFTED,
                     lab=new.lab, resource_type="report", resource_id=new.pk,
                     phi_accessed=True, request=request,
                     details={"job": str(new.job_id), "sample": str(new.job.sample_id),
                              "version": new.version, "amends": str(report.pk),
                              "reason": new.amendment_reason[:500],
                              "sha256": new.draft_sha256})
    return new
