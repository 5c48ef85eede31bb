"""The lab's classifications of variants: recorded one row per decision (never edited), looked up
by the variant's position and alleles, so a variant classified in one sample shows that
classification in every other sample of the lab."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import Classification, ClinicalClass, Variant
from jobs.review import acmg
from tenants import audit_actions
from tenants.audit import Actor, audit_record


def criteria_met(criteria: dict[str, str]) -> list[acmg.Met]:
    """The criteria as `acmg.Met`, each at the strength given ("" or its own = its own)."""
    try:
        return [acmg.Met(code, None if not strength or strength == acmg.CRITERIA[code][0]
                         else strength)
                for code, strength in criteria.items()]
    except acmg.CriterionError as exc:
        raise ValidationError(str(exc)) from None


def classify(*, membership, variant: Variant, criteria: dict[str, str], final_class: str,
             comment: str, request=None) -> Classification:
    """Record the reviewer's classification of `variant` for the lab, with the class the criteria
    suggest beside the one the reviewer chose; audited in the same transaction."""
    met = criteria_met(criteria)
    if final_class not in ClinicalClass.values:
        raise ValidationError(f"{final_class!r} is not a class")
    suggested = acmg.suggested_class(met)
    if final_class != suggested and not comment.strip():
        labels = dict(acmg.CLASSES)
        raise ValidationError(f"The criteria suggest {labels[suggested].lower()}; the final class "
                              f"({labels[final_class].lower()}) differs from it: say why in the "
                              "comment.")
    with transaction.atomic():
        row = Classification.objects.create(
            lab=membership.lab, chrom=variant.chrom, pos=variant.pos, ref=variant.ref,
            alt=variant.alt, gene=variant.gene, hgvs_c=variant.hgvs_c,
            criteria={m.code: m.applied_strength for m in met}, suggested_class=suggested,
            final_class=final_class, comment=comment.strip(), job=variant.job,
            classified_by=membership.user)
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.VARIANT_CLASSIFIED,
                     lab=membership.lab, resource_type="job", resource_id=variant.job_id,
                     phi_accessed=True, request=request,
                     details={"job": str(variant.job_id), "variant": variant.variant_id,
                              "classification": row.pk, "criteria": row.criteria,
                              "suggested_class": suggested, "final_class": final_class})
    return row


def suggestion(criteria: dict[str, str]) -> str:
    """The class these criteria give, as words, or why they cannot be combined."""
    try:
        return dict(acmg.CLASSES)[acmg.suggested_class(criteria_met(criteria))]
    except ValidationError as exc:
        return exc.messages[0]


def site_key(row) -> tuple:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return (get("chrom"), get("pos"), get("ref"), get("alt"))


def current_classifications(lab, rows) -> dict[tuple, Classification]:
    """The lab's newest classification of each of `rows` (dicts or Variants), by site key: one
    query for a page of rows."""
    keys = {site_key(r) for r in rows}
    if not keys:
        return {}
    # The positions and chromosomes of the page, each as one IN list (a few extra rows, dropped
    # below): an OR of one (chrom, pos) pair per row costs more to build than to run.
    found = {}
    for c in (Classification.objects
              .filter(lab=lab, pos__in={k[1] for k in keys}, chrom__in={k[0] for k in keys})
              .select_related("classified_by").order_by("-classified_at", "-id")):
        key = site_key(c)
        if key in keys:
            found.setdefault(key, c)
    return found


def classification_history(lab, variant: Variant):
    return (Classification.objects.filter(lab=lab, chrom=variant.chrom, pos=variant.pos,
                                          ref=variant.ref, alt=variant.alt)
            .select_related("classified_by", "job__sample").order_by("-classified_at", "-id"))
