"""Which variant, panel or preset a member may touch: looked up inside the member's lab (and the
job named in the URL), so another lab's and a missing one give the same 404."""

from django.core.exceptions import ValidationError
from django.http import Http404

from jobs.models import FilterPreset, GenePanel, Variant
from tenants.models import Membership


def access_variant(membership: Membership, job_id, variant_pk) -> Variant:
    try:
        return Variant.objects.select_related("job__sample").get(
            pk=variant_pk, job_id=job_id, lab=membership.lab)
    except (Variant.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such variant") from None


def access_panel(membership: Membership, panel_id) -> GenePanel:
    try:
        return membership.lab.gene_panels.get(pk=panel_id)
    except (GenePanel.DoesNotExist, ValidationError):
        raise Http404("No such panel") from None


def access_preset(membership: Membership, preset_id) -> FilterPreset:
    try:
        return membership.lab.filter_presets.get(pk=preset_id)
    except (FilterPreset.DoesNotExist, ValidationError):
        raise Http404("No such preset") from None
