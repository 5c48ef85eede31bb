"""Personal access tokens for the API (docs/api.md): created by a member for one of their labs,
listed and revoked by their owner and by the lab's managers, and checked at every API request.

The token text is `wes_<prefix>_<secret>`: `prefix` is 8 public hex characters that find the row,
`secret` 43 URL-safe characters from 32 random bytes. Only SHA-256(secret) is stored. A salted,
slow hash (PBKDF2, argon2) protects guessable passwords; a 256-bit random secret cannot be
guessed, so one SHA-256 is as strong and costs nothing per request. Hashes are compared in
constant time. Nothing is cached: expiry, revocation and the membership are read from the
database at each request, so removing a member stops their tokens at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from tenants import audit_actions
from tenants.access import require_manager
from tenants.audit import Actor, audit_record
from tenants.models import ApiToken, Membership, TokenScope

MAX_DAYS = 90
TOKEN_PREFIX = "wes_"
LAST_USED_EVERY = timedelta(minutes=1)
TOKEN_TEXT = re.compile(r"^wes_([0-9a-f]{8})_([A-Za-z0-9_-]{32,128})$")


class TokenRefused(Exception):
    """The request's token does not (or no longer) work; the message says why."""


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, membership: Membership, name: str, days: int, scope: str,
                 request=None) -> tuple[ApiToken, str]:
    """A new token of `membership`'s user for its lab. Returns the row and the token text, which
    is shown once and never stored."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = ["Give the token a name that says where it is used."]
    elif len(name) > 100:
        errors["name"] = ["Use at most 100 characters for the name."]
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [f"A token lasts 1 to {MAX_DAYS} days."]
    if scope not in TokenScope.values:
        errors["scope"] = ["Choose read, or read and upload."]
    if errors:
        raise ValidationError(errors)
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        while True:
            prefix = secrets.token_hex(4)
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        token = ApiToken.objects.create(
            prefix=prefix, secret_hash=_secret_hash(secret), lab=membership.lab,
            user=membership.user, membership=membership, name=name, scope=scope,
            expires_at=now + timedelta(days=days))
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.API_TOKEN_CREATED,
                     lab=membership.lab, resource_type="api_token", resource_id=token.pk,
                     request=request, details={"token_id": prefix, "name": name, "scope": scope,
                                               "expires_at": token.expires_at.isoformat()})
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def token_revoke(*, user, token: ApiToken, request=None) -> ApiToken:
    """The token's owner, or a manager of its lab, revokes it."""
    if token.user_id != user.pk:
        membership = token.lab.memberships.filter(user=user).first()
        if membership is None:
            raise PermissionDenied("That token belongs to another lab.")
        require_manager(membership)
    with transaction.atomic():
        token = for_update(ApiToken.objects).select_related("lab", "user").get(pk=token.pk)
        if token.revoked_at is not None:
            raise ValidationError("This token was already revoked.")
        token.revoked_at = timezone.now()
        token.revoked_by = user.email
        token.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(actor=Actor.for_user(user), action=audit_actions.API_TOKEN_REVOKED,
                     lab=token.lab, resource_type="api_token", resource_id=token.pk,
                     request=request, details={"token_id": token.prefix, "name": token.name,
                                               "owner": token.user.email})
    return token


def token_list_for_user(user):
    """The user's tokens in every lab, newest first (their profile page)."""
    return ApiToken.objects.filter(user=user).select_related("lab").order_by("-created_at")


def token_list_for_lab(lab):
    """A lab's tokens, newest first (its managers' page)."""
    return lab.api_tokens.select_related("user").order_by("-created_at")


def access_own_token(user, token_id) -> ApiToken | None:
    try:
        return ApiToken.objects.select_related("lab", "user").get(pk=token_id, user=user)
    except (ApiToken.DoesNotExist, ValidationError):
        return None


def access_lab_token(membership: Membership, token_id) -> ApiToken | None:
    try:
        return membership.lab.api_tokens.select_related("lab", "user").get(pk=token_id)
    except (ApiToken.DoesNotExist, ValidationError):
        return None


def authenticate(text: str, *, now=None) -> ApiToken:
    """The token the text names, with its membership, lab and user loaded; TokenRefused when it
    is malformed, unknown, wrong, revoked, expired or its member was removed."""
    now = now or timezone.now()
    match = TOKEN_TEXT.match(text or "")
    if match is None:
        raise TokenRefused("The token is not a WES Portal API token (wes_<id>_<secret>).")
    prefix, secret = match.groups()
    token = (ApiToken.objects.select_related("membership__lab", "membership__user")
             .filter(prefix=prefix).first())
    # compare even when there is no such token, so timing says nothing about prefixes
    expected = token.secret_hash if token is not None else "0" * 64
    if not hmac.compare_digest(expected, _secret_hash(secret)) or token is None:
        raise TokenRefused("The token is not valid.")
    if token.revoked_at is not None:
        raise TokenRefused("The token was revoked.")
    if token.expires_at <= now:
        raise TokenRefused("The token has expired; create a new one on your profile page.")
    membership = token.membership
    if membership is None or membership.user_id != token.user_id or \
            membership.lab_id != token.lab_id or not membership.user.is_active:
        raise TokenRefused("The token's owner is no longer a member of the lab.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
