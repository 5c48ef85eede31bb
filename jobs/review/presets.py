"""A lab's saved variant filters: the viewer's query string under a name, shared by the lab's
reviewers. The query is checked again by the filter form each time it is applied."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from jobs.models import FilterPreset
from jobs.results.variants import FILTER_FIELDS
from tenants import audit_actions
from tenants.audit import Actor, audit_record


def preset_query(query: str) -> str:
    """Only the filter fields of a query string (not its page or sort), in a stable order."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k in FILTER_FIELDS]
    return urlencode(sorted(pairs))


def preset_save(*, membership, name: str, query: str, request=None) -> FilterPreset:
    """Save the filters under `name`, replacing the lab's preset of that name."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the preset a name.")
    if len(name) > 100:
        raise ValidationError("A preset name has at most 100 characters.")
    query = preset_query(query)
    if len(query) > 2000:
        raise ValidationError("These filters are too long to save.")
    try:
        with transaction.atomic():
            preset, _ = FilterPreset.objects.update_or_create(
                lab=membership.lab, name=name,
                defaults={"query": query, "created_by": membership.user})
            audit_record(actor=Actor.for_user(membership.user),
                         action=audit_actions.FILTER_PRESET_SAVED, lab=membership.lab,
                         resource_type="filter_preset", resource_id=preset.pk, request=request,
                         details={"name": name, "query": query})
    except IntegrityError:  # saved under the same name at the same moment by someone else
        raise ValidationError(f"“{name}” was saved by someone else just now; try again.") from None
    return preset


def preset_delete(*, membership, preset: FilterPreset, request=None) -> None:
    with transaction.atomic():
        audit_record(actor=Actor.for_user(membership.user),
                     action=audit_actions.FILTER_PRESET_DELETED, lab=membership.lab,
                     resource_type="filter_preset", resource_id=preset.pk, request=request,
                     details={"name": preset.name, "query": preset.query})
        preset.delete()
