"""The review pages of lab managers: the variant viewer (filters, panels, presets, what the lab
classified before, what is selected), one variant's classification and selection, and the lab's
gene panels."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from common.urls import url_with_id
from jobs.results import variants
from jobs.results.forms import VariantFilterForm
from jobs.review import acmg, classification, panels, presets, selection
from jobs.review.access import access_panel, access_preset, access_variant
from jobs.review.forms import (ClassificationForm, PanelForm, PanelVersionForm, PresetForm,
                               SelectionForm)
from jobs.runs.access import access_job
from tenants import audit_actions
from tenants.access import lab_view
from tenants.audit import Actor, audit_record

CLASS_LABELS = dict(acmg.CLASSES)
COVERAGE_ROWS = 60


def _filter_data(get: QueryDict) -> QueryDict:
    """The request's filters, with the default population frequency limit when the URL does not
    set one (an empty `max_af_pct=` turns the limit off)."""
    data = get.copy()
    if "max_af_pct" not in data:
        data["max_af_pct"] = f"{variants.DEFAULT_MAX_AF_PCT:g}"
    return data


@lab_view(manager_only=True)
@require_GET
@never_cache                    # patient data: not in the browser's cache, nor Back's
@vary_on_headers("HX-Request")  # the same URL answers a whole page or the results block
def job_variants(request, job_id):
    """The job's variant table, filtered, sorted and paged in the database. Each page shown is
    one audited access to patient data; htmx requests get only the results block."""
    job = access_job(request.membership, job_id)
    summary = variants.variant_table_summary(job=job)
    form = VariantFilterForm(_filter_data(request.GET), consequences=summary.terms,
                             panels=panels.panel_versions(request.lab))
    page = None
    context = {"job": job, "form": form, "columns": variants.SORTS}
    if form.is_valid():
        page = variants.variant_page(job=job, filters=form.cleaned_data, summary=summary)
        classes = classification.current_classifications(request.lab, page.rows)
        chosen = dict(job.selections.filter(variant_id__in=[r["id"] for r in page.rows])
                      .values_list("variant_id", "category"))
        detail_url = (url_with_id("jobs:variant_detail", request.lab.slug, job.pk, kind="int")
                      + "?" + urlencode({"back": request.GET.urlencode()}))
        for row in page.rows:
            row["url"] = detail_url.format(id=row["id"])
            found = classes.get(classification.site_key(row))
            row["classification"] = found
            row["class_label"] = CLASS_LABELS.get(found.final_class) if found else ""
            row["selected"] = chosen.get(row["id"], "")
            row["clinvar_group"] = variants.clinvar_group(row["clinvar_significance"])
            row["clinvar_label"] = row["clinvar_significance"].replace("_", " ")
        context["panel_coverage"] = coverage = panels.panel_coverage(
            job, form.cleaned_data.get("panel"))
        if coverage:  # a large panel lists only the genes a negative result must mention
            listed = (coverage["genes"] if len(coverage["genes"]) <= COVERAGE_ROWS
                      else coverage["below"][:COVERAGE_ROWS])
            coverage.update(listed=listed, unlisted=len(coverage["genes"]) - len(listed))
        audit_record(actor=Actor.for_user(request.user), action=audit_actions.VARIANTS_VIEWED,
                     lab=request.lab, resource_type="job", resource_id=job.pk, phi_accessed=True,
                     request=request,
                     details={"job": str(job.pk), "sample": str(job.sample_id),
                              "filters": variants.filters_for_audit(form.cleaned_data),
                              "sort": page.sort, "page": page.page, "total": page.total})
    context["page"] = page
    partial = request.htmx and not request.htmx.history_restore_request
    if not partial:
        context.update(presets=list(request.lab.filter_presets.all()),
                       preset_form=PresetForm(initial={"query": request.GET.urlencode()}),
                       selected_count=job.selections.count(),
                       hpo=(panels.hpo_suggestion(job.sample.hpo_terms)
                            if job.sample.hpo_terms else None))
    return render(request, "jobs/_variant_results.html" if partial else "jobs/variants.html",
                  context, status=200 if page else 400)


def _variant_page(request, variant, *, status=200, classify_form=None, select_form=None):
    history = list(classification.classification_history(request.lab, variant))
    current = history[0] if history else None
    initial = {"final_class": current.final_class} if current else {}
    if current:
        for code, strength in current.criteria.items():
            initial[f"met_{code}"] = True
            initial[f"strength_{code}"] = strength
    chosen = variant.job.selections.filter(variant=variant).first()
    form = classify_form or ClassificationForm(initial=initial)
    criteria = (form.criteria_given() if form.is_bound else
                {code: initial[f"strength_{code}"] for code in (current.criteria if current else {})})
    for row in history:
        row.criteria_labels = acmg.criteria_labels(row.criteria)
    return render(request, "jobs/variant_detail.html", {
        "job": variant.job, "variant": variant, "history": history, "current": current,
        "suggested": classification.suggestion(criteria),
        "class_labels": CLASS_LABELS,
        "classify_form": form,
        "select_form": select_form or SelectionForm(
            initial={"category": chosen.category if chosen else ""}),
        "selected": chosen, "secondary_allowed": request.lab.reports_secondary_findings,
        "back": _back_query(request),
    }, status=status)


def _back_query(request) -> str:
    """The viewer's filters, sort and page to go back to (`back`), checked: only the viewer's own
    parameters, re-encoded."""
    raw = request.POST.get("back") or request.GET.get("back") or ""
    keep = set(variants.FILTER_FIELDS) | {"sort", "page"}
    return urlencode([(k, v) for k, v in parse_qsl(raw.lstrip("?"), keep_blank_values=True)
                      if k in keep])


def _to_variant(request, variant):
    back = _back_query(request)
    return redirect(reverse("jobs:variant_detail", args=[request.lab.slug, variant.job_id,
                                                        variant.pk])
                    + (f"?{urlencode({'back': back})}" if back else ""))


@lab_view(manager_only=True)
@require_GET
def variant_detail(request, job_id, variant_pk):
    variant = access_variant(request.membership, job_id, variant_pk)
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.VARIANTS_VIEWED,
                 lab=request.lab, resource_type="job", resource_id=variant.job_id,
                 phi_accessed=True, request=request,
                 details={"job": str(variant.job_id), "variant": variant.variant_id})
    return _variant_page(request, variant)


@lab_view(manager_only=True)
@require_GET
def variant_suggest(request, job_id, variant_pk):
    """The class the ticked criteria give, while the reviewer ticks them (htmx)."""
    access_variant(request.membership, job_id, variant_pk)
    suggested = classification.suggestion(ClassificationForm(request.GET).criteria_given())
    return render(request, "jobs/_acmg_suggested.html", {"suggested": suggested})


@lab_view(manager_only=True)
@require_POST
def variant_classify(request, job_id, variant_pk):
    variant = access_variant(request.membership, job_id, variant_pk)
    form = ClassificationForm(request.POST)
    if form.is_valid():
        try:
            classification.classify(membership=request.membership, variant=variant,
                                    criteria=form.criteria(),
                                    final_class=form.cleaned_data["final_class"],
                                    comment=form.cleaned_data["comment"], request=request)
        except ValidationError as exc:
            form.add_error(None, exc)
    if not form.is_valid():
        return _variant_page(request, variant, status=400, classify_form=form)
    messages.success(request, f"{variant.gene or variant.chrom}:{variant.pos} classified "
                              f"{CLASS_LABELS[form.cleaned_data['final_class']].lower()}.")
    return _to_variant(request, variant)


@lab_view(manager_only=True)
@require_POST
def variant_select(request, job_id, variant_pk):
    variant = access_variant(request.membership, job_id, variant_pk)
    form = SelectionForm(request.POST)
    if form.is_valid():
        try:
            selection.select_variant(membership=request.membership, variant=variant,
                                     category=form.cleaned_data["category"], request=request)
        except ValidationError as exc:
            form.add_error("category", exc)
    if not form.is_valid():
        return _variant_page(request, variant, status=400, select_form=form)
    category = form.cleaned_data["category"]
    messages.success(request, "In the report as a " + category + " finding." if category
                     else "Not in the report.")
    return _to_variant(request, variant)


@lab_view(manager_only=True)
@require_http_methods(["GET", "POST"])
def panel_list(request):
    """The lab's panels and a form for a new one (prefilled from an HPO suggestion)."""
    form = PanelForm(request.POST or None, initial={"name": request.GET.get("name", ""),
                                                    "genes": request.GET.get("genes", "")})
    if request.method == "POST" and form.is_valid():
        try:
            version = panels.panel_create(membership=request.membership, **form.cleaned_data,
                                          request=request)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Panel {version} saved with {len(version.genes)} genes.")
            return redirect("jobs:panel_detail", lab_slug=request.lab.slug,
                            panel_id=version.panel_id)
    return render(request, "jobs/panels.html", {
        "panels": request.lab.gene_panels.prefetch_related("versions"), "form": form,
        "presets": request.lab.filter_presets.select_related("created_by"),
        # Arriving from a suggestion ("Make a panel of them"): the form comes first.
        "prefilled": bool(request.GET.get("name") or request.GET.get("genes"))},
        status=400 if form.errors else 200)


@lab_view(manager_only=True)
@require_http_methods(["GET", "POST"])
def panel_detail(request, panel_id):
    panel = access_panel(request.membership, panel_id)
    latest = panel.latest_version()
    form = PanelVersionForm(request.POST or None,
                            initial={"genes": "\n".join(latest.genes) if latest else ""})
    if request.method == "POST" and form.is_valid():
        try:
            version = panels.panel_version_add(membership=request.membership, panel=panel,
                                               **form.cleaned_data, request=request)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{version} saved with {len(version.genes)} genes.")
            return redirect("jobs:panel_detail", lab_slug=request.lab.slug, panel_id=panel.pk)
    return render(request, "jobs/panel_detail.html", {
        "panel": panel, "versions": panel.versions.select_related("created_by"), "form": form},
        status=400 if form.errors else 200)


@lab_view(manager_only=True)
@require_POST
def preset_save(request):
    form = PresetForm(request.POST)
    back = request.POST.get("next", "")
    if form.is_valid():
        try:
            preset = presets.preset_save(membership=request.membership, **form.cleaned_data,
                                         request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Filters saved as “{preset.name}”.")
    else:
        messages.error(request, "Give the preset a name (at most 100 characters).")
    return redirect(back if back.startswith("/") and not back.startswith("//") else
                    reverse("jobs:panel_list", args=[request.lab.slug]))


@lab_view(manager_only=True)
@require_POST
def preset_delete(request, preset_id):
    preset = access_preset(request.membership, preset_id)
    presets.preset_delete(membership=request.membership, preset=preset, request=request)
    messages.success(request, f"Preset “{preset.name}” deleted.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else
                    reverse("jobs:panel_list", args=[request.lab.slug]))
