"""Samples in the admin: a read-only list for staff. Opening a sample's page shows patient data
(identifiers, clinical indication), so every such view is audited as a PHI access, as it is for
lab members."""

from django.contrib import admin
from django.contrib.admin.utils import unquote

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from jobs.intake.selectors import SAMPLE_LIST_PREFETCH
from jobs.models import Sample
from tenants import audit_actions
from tenants.audit import Actor, audit_record


class PhiViewAudited:
    """An admin of patient data: each view of a row's page (`view_action`) and each page of the
    list, with its search and filters (`list_action`; the list spans every lab, and a search by
    an identifier is a look-up of a patient), is audited as a PHI access."""

    view_action = ""
    list_action = ""

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if request.method == "GET" and response.status_code == 200 and cl is not None:
            filters = {k: v for k, v in request.GET.items() if k not in {"q", "p", "o"}}
            audit_record(actor=Actor.for_user(request.user), action=self.list_action,
                         resource_type=self.model._meta.model_name, phi_accessed=True,
                         request=request,
                         details={"via": "admin", "search": request.GET.get("q", ""),
                                  "filters": filters, "page": cl.page_num,
                                  "shown": len(cl.result_list)})
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            obj = self.get_object(request, unquote(object_id))
            audit_record(actor=Actor.for_user(request.user), action=self.view_action, lab=obj.lab,
                         resource_type=self.model._meta.model_name, resource_id=obj.pk,
                         phi_accessed=True, request=request, details={"via": "admin"})
        return response


@admin.register(Sample)
class SampleAdmin(PhiViewAudited, LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    view_action = audit_actions.SAMPLE_ADMIN_VIEWED
    list_action = audit_actions.SAMPLE_ADMIN_LISTED
    list_display = ["name", "external_id", "lab", "stage", "created_at"]
    list_filter = ["lab", "status"]
    list_select_related = ["lab"]
    search_fields = ["name", "external_id"]
    ordering = ["-created_at", "-id"]
    list_per_page = 50

    list_defer = ("clinical_indication", "hpo_terms", "rejection_reason", "verification_note")

    def get_queryset(self, request):
        # What `stage` reads, as the lab's own sample list reads it.
        return super().get_queryset(request).prefetch_related(*SAMPLE_LIST_PREFETCH[1:])

    @admin.display(description="status")
    def stage(self, sample):
        return sample.stage.label
