import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Upper
from django.utils import timezone

SLUG_RULE = RegexValidator(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
                           "Use 1-50 lower-case letters, digits and inner hyphens.")


class Lab(models.Model):
    """A tenant. Everything a lab owns carries a non-null `lab` and is looked up inside it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=50, unique=True, validators=[SLUG_RULE])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    reports_secondary_findings = models.BooleanField(
        default=False, db_default=False, help_text="The lab's policy allows secondary (incidental) findings in "
                                 "reports, for patients who consented to them.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    MANAGER = "manager", "Lab manager"


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    email_notifications = models.BooleanField(
        default=True, help_text="Email about failed jobs, reports to review and signed reports.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lab", "user"], name="one_membership_per_lab")]
        ordering = ["user__email"]

    def __str__(self) -> str:
        return f"{self.user.email} in {self.lab.slug} ({self.role})"

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


class Invitation(models.Model):
    """An offer to join a lab, sent by email. Only the token's hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.lab.slug} as {self.role}"

    def is_pending(self, now=None) -> bool:
        now = now or timezone.now()
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > now


class AuditEvent(models.Model):
    """One append-only, hash-chained record of an access or change. Never updated or deleted.

    The actor is stored as plain values, not a foreign key that could cascade: deleting a user must
    not touch (and, on PostgreSQL, cannot touch) the record of what they did. The lab is PROTECTed
    for the same reason: a lab with audit history cannot be deleted. `lab` is empty for events
    outside any lab (signing in, a failed login).
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    actor_id = models.CharField(max_length=64)       # "user:<pk>", "system" or "anonymous"
    actor_email = models.CharField(max_length=254)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, null=True, blank=True,
                            related_name="audit_events")
    action = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64, blank=True)
    resource_id = models.CharField(max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)
    phi_accessed = models.BooleanField(default=False)
    data_exported = models.BooleanField(default=False)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # The audit key (WES_AUDIT_KEYS) whose HMAC `hash` is; empty on events written before keyed
    # chaining, whose `hash` is a plain SHA-256.
    key_id = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # What the audit admin filters and searches by, each with the id so that the newest
        # page of a filter is read from the index (docs/operations.md, "Audit log at scale").
        indexes = [
            models.Index(fields=["lab", "id"], name="audit_lab_id"),
            models.Index(fields=["action", "id"], name="audit_action_id"),
            models.Index(fields=["actor_id", "id"], name="audit_actor_id"),
            models.Index(Upper("actor_email"), "id", name="audit_actor_email"),
            # exact and prefix search (LIKE 'abc%') of resource ids and request ids
            models.Index(fields=["resource_id"], opclasses=["varchar_pattern_ops"],
                         name="audit_resource_id"),
            models.Index(fields=["request_id"], opclasses=["varchar_pattern_ops"],
                         name="audit_request_id"),
            models.Index(fields=["id"], condition=Q(data_exported=True), name="audit_exports"),
            # a sample's history (jobs/intake/selectors.py sample_history)
            models.Index(KeyTransform("sample", "details"), "id",
                         condition=Q(details__has_key="sample"), name="audit_sample_id"),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.action} by {self.actor_email}"


class AuditExport(models.Model):
    """A month of audit events written as a compressed file to the logs bucket."""

    id = models.BigAutoField(primary_key=True)
    month = models.DateField(unique=True)           # first day of the month exported
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=512)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    event_count = models.IntegerField()
    first_event_id = models.BigIntegerField(null=True, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"audit export {self.month:%Y-%m}"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    UPLOAD = "upload", "Read and upload"


class ApiToken(models.Model):
    """A personal access token for the API (tenants/api_tokens.py): one member's, for one lab.
    Only the secret's SHA-256 is stored; `prefix` (public, 8 hex) finds the row and names the
    token in the audit log. It works while its membership exists: removing the member sets
    `membership` to NULL, and a NULL membership is refused at every request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prefix = models.CharField(max_length=8, unique=True)
    secret_hash = models.CharField(max_length=64)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    membership = models.ForeignKey(Membership, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=TokenScope.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=254, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"wes_{self.prefix}… ({self.name})"

    def state(self, now=None) -> str:
        """"active", "revoked", "expired" or "member removed"."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.membership_id is None:
            return "member removed"
        if self.expires_at <= now:
            return "expired"
        return "active"

    def allows_upload(self) -> bool:
        return self.scope == TokenScope.UPLOAD
