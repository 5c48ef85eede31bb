"""Audit codes, download reasons and storage roles in a member's words, for templates:
{% load wording %} {{ event.action|action_words }} · {{ event|event_details }} ·
{{ output.bucket_role|storage_words }}. The words themselves are in tenants/audit_wording.py."""

from django import template

from jobs.results.downloads import REASONS
from tenants.audit_wording import action_wording, storage_wording

register = template.Library()
REASON_WORDING = dict(REASONS)


@register.filter
def action_words(action: str) -> str:
    return action_wording(action)


@register.filter
def storage_words(role: str) -> str:
    return storage_wording(role)


@register.filter
def event_details(event) -> str:
    """The few details of a sample's event a member needs: which read, why it was downloaded,
    which file version (SHA-256, shortened)."""
    details = event.details or {}
    parts = []
    if details.get("read"):
        parts.append(f"read {details['read']}")
    if details.get("reason"):
        reason = REASON_WORDING.get(details["reason"], details["reason"])
        note = details.get("note", "")
        parts.append(f"reason: {reason}{f' ({note})' if note else ''}")
    if details.get("sha256"):
        parts.append(f"SHA-256 {details['sha256'][:16]}…")
    return " · ".join(parts)
