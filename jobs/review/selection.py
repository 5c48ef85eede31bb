"""Which of a job's variants go in its report (primary findings, and secondary findings where the
lab's policy allows), and the digest of those review decisions that a draft is made from."""

from __future__ import annotations

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction

from common.db import for_update
from jobs.models import SelectionCategory, Variant, VariantSelection
from jobs.review.classification import current_classifications, site_key
from tenants import audit_actions
from tenants.audit import Actor, audit_record


def select_variant(*, membership, variant: Variant, category: str, request=None):
    """Put `variant` in the report as `category`, or take it out (category "")."""
    if category and category not in SelectionCategory.values:
        raise ValidationError(f"{category!r} is not a kind of finding")
    if category == SelectionCategory.SECONDARY and not membership.lab.reports_secondary_findings:
        raise ValidationError("This lab's policy does not report secondary findings.")
    if category and not current_classifications(membership.lab, [variant]):
        raise ValidationError("Classify the variant before putting it in the report.")
    with transaction.atomic():
        for_update(Variant.objects).get(pk=variant.pk)   # one selection change at a time
        removed, _ = VariantSelection.objects.filter(variant=variant).delete()
        if category:
            VariantSelection.objects.create(lab=membership.lab, job=variant.job, variant=variant,
                                            category=category, selected_by=membership.user)
        elif not removed:
            return
        audit_record(actor=Actor.for_user(membership.user),
                     action=(audit_actions.VARIANT_SELECTED if category
                             else audit_actions.VARIANT_DESELECTED),
                     lab=membership.lab, resource_type="job", resource_id=variant.job_id,
                     phi_accessed=True, request=request,
                     details={"job": str(variant.job_id), "variant": variant.variant_id,
                              "category": category})


def selected_variants(job):
    """The job's selected variants, primary findings first, each with `.category` and
    `.classification` (the lab's current one)."""
    rows = list(job.variants.filter(selection__isnull=False)
                .select_related("selection").order_by("selection__category", "gene_sort", "id"))
    classes = current_classifications(job.lab, rows)
    for row in rows:
        row.category = row.selection.category
        row.classification = classes.get(site_key(row))
    return rows


def review_digest(job, rows=None) -> str:
    """SHA-256 of what the report shows of the review: each selected variant, its category, and
    the classification it is reported with."""
    rows = selected_variants(job) if rows is None else rows
    state = [[r.variant_id, r.category, r.classification.pk if r.classification else None]
             for r in rows]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()
