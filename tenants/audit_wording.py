"""The audit log's action codes (tenants/audit_actions.py) in plain words, for pages a lab's
members read (a sample's history); staff pages and exports keep the codes. One entry per code:
tenants/tests/test_audit_wording.py fails when a new code has no wording."""

from __future__ import annotations

from tenants import audit_actions as a

ACTION_WORDING = {
    a.LOGIN: "Signed in",
    a.LOGOUT: "Signed out of the portal",
    a.LOGIN_FAILED: "Sign-in failed",
    a.USER_EMAIL_VERIFIED_BY_STAFF: "E-mail address confirmed by staff",
    a.INVITATION_CREATED: "Invitation sent",
    a.INVITATION_ACCEPTED: "Invitation accepted",
    a.INVITATION_REVOKED: "Invitation withdrawn",
    a.MEMBERSHIP_ADDED: "Member added",
    a.MEMBERSHIP_REMOVED: "Member removed",
    a.MEMBERSHIP_ROLE_CHANGED: "Member's role changed",
    a.LAB_CREATED: "Lab created",
    a.LAB_HOME_VIEWED: "Lab home page viewed",
    a.LAB_CHANGED: "Lab details changed",
    a.SAMPLE_CREATED: "Sample registered",
    a.SAMPLE_VIEWED: "Sample page viewed",
    a.SAMPLE_LIST_VIEWED: "Sample list viewed",
    a.SAMPLE_VERIFIED: "Files checked and complete",
    a.SAMPLE_REJECTED: "Files rejected",
    a.SAMPLE_SUBMITTED: "Submitted for analysis",
    a.UPLOAD_STARTED: "Upload started",
    a.UPLOAD_RESUMED: "Upload resumed",
    a.UPLOAD_COMPLETED: "File uploaded",
    a.UPLOAD_CANCELLED: "Upload cancelled",
    a.UPLOAD_ABANDONED: "Unfinished upload cleared",
    a.JOB_STARTED: "Analysis started",
    a.JOB_SUCCEEDED: "Analysis finished",
    a.JOB_FAILED: "Analysis failed",
    a.JOB_CANCELLED: "Analysis cancelled",
    a.JOB_RETRIED: "Analysis restarted",
    a.JOB_REQUEUED: "Analysis queued again after an interruption",
    a.JOB_VIEWED: "Analysis page viewed",
    a.JOB_ARCHIVED: "Results archived",
    a.JOB_ARCHIVE_FAILED: "Archiving failed",
    a.JOB_RESTORED: "Results restored from the archive",
    a.JOB_PURGED: "Results deleted at the end of the retention period",
    a.LEGAL_HOLD_PLACED: "Legal hold placed",
    a.LEGAL_HOLD_LIFTED: "Legal hold lifted",
    a.LEGAL_HOLD_OBJECTS_HELD: "Legal hold set on the stored files",
    a.LEGAL_HOLD_OBJECTS_RELEASED: "Legal hold released from the stored files",
    a.JOB_ADMIN_VIEWED: "Analysis viewed by staff",
    a.SAMPLE_ADMIN_VIEWED: "Sample viewed by staff",
    a.OUTPUT_DOWNLOADED: "Result file downloaded",
    a.USAGE_EXPORTED: "Usage exported",
    a.VARIANTS_VIEWED: "Variant table viewed",
    a.REPORT_DRAFTED: "Draft report written",
    a.REPORT_DRAFT_UPDATED: "Draft report written again",
    a.REPORT_VIEWED: "Report page viewed",
    a.REPORT_SIGNED_OUT: "Report signed out",
    a.REPORT_AMENDED: "Amended report signed out",
    a.REPORT_REAUTH_FAILED: "Sign-out refused: password or code not correct",
    a.REPORT_DOWNLOADED: "Report downloaded",
    a.REVIEW_QUEUE_VIEWED: "Review queue viewed",
    a.NOTIFICATION_SENT: "Notification e-mailed",
    a.NOTIFICATIONS_CHANGED: "Notification settings changed",
    a.STORAGE_RULES_APPLIED: "Storage rules applied",
    a.AUDIT_EXPORTED: "Audit log exported",
    a.AUDIT_VERIFIED: "Audit log checked",
    a.AUDIT_VERIFY_REQUESTED: "Audit log check requested",
    a.AUDIT_MONTH_ARCHIVED: "Audit log month archived",
    a.VARIANT_CLASSIFIED: "Variant classified",
    a.VARIANT_SELECTED: "Variant selected for the report",
    a.VARIANT_DESELECTED: "Variant removed from the report",
    a.PANEL_CREATED: "Gene panel created",
    a.PANEL_VERSION_CREATED: "Gene panel version saved",
    a.FILTER_PRESET_SAVED: "Saved filter stored",
    a.FILTER_PRESET_DELETED: "Saved filter deleted",
    a.JOB_ADMIN_LISTED: "Analyses listed by staff",
    a.SAMPLE_ADMIN_LISTED: "Samples listed by staff",
    a.DOWNLOAD_PAGE_VIEWED: "Download form opened",
    a.UPLOAD_RECEIVED: "File received and kept for a corrected form",
    a.SAMPLE_REANALYSED: "New analysis started",
    a.SESSION_EXPIRED: "Signed out after the session limit",
    a.SESSIONS_ENDED: "Other sessions signed out",
    a.MFA_ENABLED: "Two-factor authentication set up",
    a.MFA_DISABLED: "Two-factor authentication removed",
    # --- storage scrub ---
    a.STORAGE_SCRUB_FINDINGS: "Stored files found missing or changed by the storage check",
    a.BACKUP_WRITTEN: "Backup of all labs' data written",
    a.BACKUP_RESTORED: "Portal restored from a backup",
    # --- API tokens (issue 16) ---
    a.API_TOKEN_CREATED: "API token created",
    a.API_TOKEN_REVOKED: "API token revoked",
    a.API_CALLED: "API used",
}

# Where a result file is kept, by its storage role, in a member's words (bucket names are for
# staff: a clinician asks what happens to the file, not where it lives).
STORAGE_WORDING = {
    "results": "Kept with the results",
    "intermediate": "Working file, removed after a few weeks",
    "raw": "Uploaded reads",
    "archives": "In the long-term archive",
    "logs": "Run log",
    "reference": "Reference data",
}


def action_wording(action: str) -> str:
    """The action in words; a code without an entry (an event from a newer version) in words
    made from the code itself, never the bare code."""
    if action in ACTION_WORDING:
        return ACTION_WORDING[action]
    return action.replace(".", ": ", 1).replace("_", " ").capitalize()


def storage_wording(role: str) -> str:
    return STORAGE_WORDING.get(role, "Stored by the portal")
