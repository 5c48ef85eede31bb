import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import downloads, reports, runs, selectors, services, variants
from jobs.access import access_job, access_job_output, access_sample, access_sample_file
from jobs.forms import DirectUploadForm, PlainUploadForm, SampleSheetForm
from jobs.models import FileStatus, JobStatus
from jobs.qc_display import qc_figures
from jobs.sample_sheet import COLUMNS, parse_sheet
from jobs.variant_forms import VariantFilterForm
from storage.s3 import StorageError
from tenants import actions
from tenants.access import lab_view
from tenants.audit import Actor, audit_record


# Files the resume form offers: those not yet completed.
UPLOADABLE = {FileStatus.PENDING, FileStatus.UPLOADING, FileStatus.CANCELLED}


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _error_json(messages_by_field: dict, status: int) -> JsonResponse:
    return JsonResponse({"errors": messages_by_field}, status=status)


def _messages(exc: ValidationError) -> list[str]:
    return list(exc.messages)


@lab_view()
@require_GET
def sample_list(request):
    search = request.GET.get("q", "").strip()[:64]
    samples = selectors.sample_list(request.lab, search=search)
    audit_record(actor=Actor.for_user(request.user), action=actions.SAMPLE_LIST_VIEWED,
                 lab=request.lab, resource_type="sample", phi_accessed=True, request=request,
                 details={"count": len(samples), "search": search})
    return render(request, "jobs/sample_list.html", {"samples": samples, "search": search})


@lab_view()
@require_http_methods(["GET", "POST"])
def sample_new(request):
    if request.method == "GET":
        return render(request, "jobs/sample_new.html", {"form": PlainUploadForm()})
    if _wants_json(request):
        return _sample_new_direct(request)
    return _sample_new_plain(request)


def _sample_new_direct(request):
    form = DirectUploadForm(request.POST)
    if not form.is_valid():
        return _error_json(form.errors_by_field(), 400)
    try:
        sample = services.sample_create(membership=request.membership, data=form.cleaned_data,
                                        files=form.files_declared(), request=request)
    except ValidationError as exc:
        return _error_json(exc.message_dict if hasattr(exc, "error_dict")
                           else {"__all__": _messages(exc)}, 400)
    return JsonResponse(_sample_created_json(request, sample), status=201)


def _sample_created_json(request, sample) -> dict:
    slug = request.lab.slug
    return {
        "sample": {"id": str(sample.pk), "name": sample.name,
                   "url": reverse("jobs:sample_detail", args=[slug, sample.pk]),
                   "status_url": reverse("jobs:sample_status", args=[slug, sample.pk])},
        "files": [_file_json(slug, f) for f in sample.files.all()],
    }


def _file_json(slug: str, f) -> dict:
    return {"read": f.read, "id": str(f.pk), "name": f.original_name, "size": f.size,
            "status": f.status,
            "upload_url": reverse("jobs:upload", args=[slug, f.sample_id, f.pk])}


def _sample_new_plain(request):
    form = PlainUploadForm(request.POST, request.FILES)
    if form.is_valid():
        uploads = {1: form.cleaned_data["r1"], 2: form.cleaned_data["r2"]}
        try:
            sample = services.sample_create_from_plain_upload(
                membership=request.membership, data=form.cleaned_data, uploads=uploads,
                request=request)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field, errors)
            else:
                form.add_error(None, exc)
        except StorageError as exc:
            form.add_error(None, f"Your files could not be stored, so nothing was saved: {exc}. "
                                 "Try again in a few minutes.")
        else:
            messages.success(request, f"{sample.name} was uploaded and is being verified.")
            return redirect("jobs:sample_detail", lab_slug=request.lab.slug, sample_id=sample.pk)
    return render(request, "jobs/sample_new.html", {"form": form}, status=400)


@lab_view()
@require_http_methods(["GET", "POST"])
def sample_sheet(request):
    """Many samples from a CSV sheet; their files are matched to rows by name and uploaded the
    same way as one sample's (directly to storage with JavaScript, through the form without)."""
    context = {"form": SampleSheetForm(), "columns": COLUMNS}
    if request.method == "GET":
        return render(request, "jobs/sample_sheet.html", context)
    form = SampleSheetForm(request.POST, request.FILES)
    direct = _wants_json(request)
    if not form.is_valid():
        if direct:
            return _error_json(dict(form.errors), 400)
        return render(request, "jobs/sample_sheet.html", {**context, "form": form}, status=400)
    uploads = {f.name: f for f in request.FILES.getlist("fastqs")}
    if direct:
        try:
            declared = json.loads(request.POST.get("files", "[]"))
            chosen = {str(f["name"]): int(f["size"]) for f in declared}
        except (ValueError, KeyError, TypeError):
            return _error_json({"__all__": ["Send the chosen files as a JSON list of "
                                            "{name, size}."]}, 400)
    else:
        chosen = {name: f.size for name, f in uploads.items()}
    parsed = parse_sheet(form.cleaned_data["sheet"].read(), chosen,
                         consent=form.cleaned_data["consent"], lab=request.lab)
    if not parsed.ok:
        if direct:
            return JsonResponse({"errors": {"__all__": parsed.errors},
                                 "rows": parsed.problems()}, status=400)
        return render(request, "jobs/sample_sheet.html",
                      {**context, "form": form, "sheet_errors": parsed.errors,
                       "row_errors": parsed.problems()}, status=400)
    if direct:
        samples = services.samples_create_from_sheet(membership=request.membership,
                                                     rows=parsed.rows, request=request)
        return JsonResponse({"samples": [_sample_created_json(request, s) for s in samples],
                             "list_url": reverse("jobs:sample_list", args=[request.lab.slug])},
                            status=201)
    return _sheet_plain(request, context, form, parsed, uploads)


def _sheet_plain(request, context, form, parsed, uploads):
    created, failed = [], []
    for row in parsed.rows:
        files = {read: uploads[name] for read, (name, _size) in row.files.items()}
        try:
            created.append(services.sample_create_from_plain_upload(
                membership=request.membership, data=row.data, uploads=files, request=request))
        except (ValidationError, StorageError) as exc:
            failed.append({"row": row.number, "sample": row.data["name"],
                           "errors": getattr(exc, "messages", [str(exc)])})
    if failed:
        return render(request, "jobs/sample_sheet.html",
                      {**context, "form": form, "row_errors": failed,
                       "sheet_errors": [f"{len(created)} sample(s) were stored; the rows below "
                                        "were not."]}, status=400)
    messages.success(request, f"{len(created)} samples were uploaded and are being verified.")
    return redirect("jobs:sample_list", lab_slug=request.lab.slug)


@lab_view()
@require_GET
def sample_detail(request, sample_id):
    sample = access_sample(request.membership, sample_id)
    audit_record(actor=Actor.for_user(request.user), action=actions.SAMPLE_VIEWED,
                 lab=request.lab, resource_type="sample", resource_id=sample.pk,
                 phi_accessed=True, request=request, details={"sample": str(sample.pk)})
    files = list(sample.files.all())
    to_upload = [f for f in files if f.status in UPLOADABLE]
    return render(request, "jobs/sample_detail.html", {
        "sample": sample, "files": files, "files_to_upload": to_upload,
        "files_json": json.dumps([_file_json(request.lab.slug, f) for f in to_upload]),
        "history": selectors.sample_history(sample),
        "timeline": selectors.sample_timeline(sample),
        "qc_figures": qc_figures(sample.latest_job.qc) if sample.latest_job else [],
    })


@lab_view()
@require_POST
def sample_submit(request, sample_id):
    sample = access_sample(request.membership, sample_id)
    try:
        job = runs.job_submit(membership=request.membership, sample=sample, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{sample.name} was submitted for analysis.")
        return redirect("jobs:job_detail", lab_slug=request.lab.slug, job_id=job.pk)
    return redirect("jobs:sample_detail", lab_slug=request.lab.slug, sample_id=sample.pk)


@lab_view()
@require_GET
def sample_status(request, sample_id):
    """Polled while uploading and verifying: status only, no patient data, so not audited."""
    sample = access_sample(request.membership, sample_id)
    files = list(sample.files.all())
    if request.htmx:
        return render(request, "jobs/_sample_status.html", {"sample": sample, "files": files})
    return JsonResponse({
        "status": sample.status, "reason": sample.rejection_reason,
        "files": [{"read": f.read, "status": f.status, "size": f.size,
                   "read_count": f.read_count, "error": f.error} for f in files]})


# --- the direct upload API (docs/upload-api.md) ---

def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body


def _api_call(handler):
    """Run an upload API handler; answer its ValidationErrors as 400 (409 for state conflicts)
    and a storage outage as 503, each with the sentence that explains it."""
    try:
        return handler()
    except services.UploadConflict as exc:
        return _error_json({"__all__": _messages(exc)}, 409)
    except ValidationError as exc:
        return _error_json({"__all__": _messages(exc)}, 400)
    except StorageError as exc:
        return _error_json({"__all__": [f"Storage is unavailable: {exc}"]}, 503)


@lab_view()
@require_http_methods(["POST", "DELETE"])
def upload(request, sample_id, file_id):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    if request.method == "DELETE":
        return _api_call(lambda: JsonResponse({"file_status": services.upload_cancel(
            membership=request.membership, sample_file=sample_file, request=request).status}))

    def start():
        body = _json_body(request)
        name, size = body.get("name"), body.get("size")
        if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool):
            raise ValidationError("Send the file's name (text) and size (an integer).")
        return JsonResponse(services.upload_start(membership=request.membership,
                                                  sample_file=sample_file, name=name, size=size,
                                                  request=request))

    return _api_call(start)


@lab_view()
@require_GET
def upload_parts(request, sample_id, file_id):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    return _api_call(lambda: JsonResponse({"parts": services.upload_parts(
        sample_file=sample_file)}))


@lab_view()
@require_POST
def upload_sign_part(request, sample_id, file_id, part_number):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    return _api_call(lambda: JsonResponse({
        "url": services.upload_sign_part(sample_file=sample_file, part_number=part_number),
        "method": "PUT", "expires_in": settings.UPLOAD_PART_URL_SECONDS}))


@lab_view()
@require_POST
def upload_complete(request, sample_id, file_id):
    sample_file = access_sample_file(request.membership, sample_id, file_id)

    def complete():
        body = _json_body(request)
        parts = body.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise ValidationError("Send the uploaded parts as a list of {PartNumber, ETag}.")
        f = services.upload_complete(membership=request.membership, sample_file=sample_file,
                                     parts=parts, sha256=str(body.get("sha256", "")),
                                     request=request)
        f.sample.refresh_from_db()
        return JsonResponse({"file_status": f.status, "sample_status": f.sample.status})

    return _api_call(complete)


# --- jobs ---

@lab_view()
@require_GET
def job_detail(request, job_id):
    job = access_job(request.membership, job_id)
    released = reports.is_released(job)
    context = {"job": job, "outputs": list(job.outputs.all()),
               "can_download": downloads.can_download(request.membership, job),
               "released": released, "qc_figures": qc_figures(job.qc),
               "has_report": job.reports.exists(),
               "can_cancel": job.can_cancel() and (request.membership.is_manager
                                                   or job.submitted_by_id == request.user.id),
               "can_retry": job.can_retry() and request.membership.is_manager}
    if request.htmx:  # progress polling: states and step times only
        response = render(request, "jobs/_job_progress.html", context)
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            response["HX-Refresh"] = "true"  # the run ended: the whole page has more to show
        return response
    audit_record(actor=Actor.for_user(request.user), action=actions.JOB_VIEWED,
                 lab=request.lab, resource_type="job", resource_id=job.pk, phi_accessed=True,
                 request=request, details={"job": str(job.pk), "sample": str(job.sample_id)})
    return render(request, "jobs/job_detail.html", context)


@lab_view()
@require_POST
def job_cancel(request, job_id):
    job = access_job(request.membership, job_id)
    try:
        runs.job_cancel(membership=request.membership, job=job, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The job was cancelled.")
    return redirect("jobs:job_detail", lab_slug=request.lab.slug, job_id=job.pk)


@lab_view(manager_only=True)
@require_POST
def job_retry(request, job_id):
    job = access_job(request.membership, job_id)
    try:
        runs.job_retry(membership=request.membership, job=job, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The job was queued again; it resumes where it stopped.")
    return redirect("jobs:job_detail", lab_slug=request.lab.slug, job_id=job.pk)


@lab_view()
@require_http_methods(["GET", "POST"])
def output_download(request, job_id, output_id):
    """Ask why (PHI export), then send the browser to a presigned GET for this one file."""
    output = access_job_output(request.membership, job_id, output_id)
    if not downloads.can_download(request.membership, output.job):
        raise PermissionDenied("Results can be downloaded once a lab manager has signed the "
                               "report out.")
    job = output.job
    return download_page(
        request, issue=lambda reason, note: downloads.output_download_url(
            membership=request.membership, output=output, reason=reason, note=note,
            request=request),
        file_label=output.path, size=output.size, sha256=output.sha256,
        back_url=reverse("jobs:job_detail", args=[request.lab.slug, job.pk]),
        back_label=f"Analysis of {job.sample.name}")


def download_page(request, *, issue, **context):
    """The reason form of a PHI export; on a valid POST, `issue(reason, note)` audits and signs
    the URL, and the browser is sent there."""
    context["reasons"] = downloads.REASONS
    if request.method == "POST":
        try:
            url = issue(request.POST.get("reason", ""), request.POST.get("note", ""))
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
        except StorageError as exc:
            context["error"] = f"Storage is unavailable: {exc}"
        else:
            return redirect(url)
        return render(request, "jobs/download.html", context, status=400)
    return render(request, "jobs/download.html", context)


@lab_view(manager_only=True)
@require_GET
def job_variants(request, job_id):
    """The job's variant table, filtered, sorted and paged in the database. Each page shown is
    one audited access to patient data; htmx requests get only the results block."""
    job = access_job(request.membership, job_id)
    summary = variants.variant_table_summary(job=job)
    form = VariantFilterForm(request.GET, consequences=summary.terms)
    page = None
    if form.is_valid():
        page = variants.variant_page(job=job, filters=form.cleaned_data, summary=summary)
        audit_record(actor=Actor.for_user(request.user), action=actions.VARIANTS_VIEWED,
                     lab=request.lab, resource_type="job", resource_id=job.pk, phi_accessed=True,
                     request=request,
                     details={"job": str(job.pk), "sample": str(job.sample_id),
                              "filters": variants.filters_for_audit(form.cleaned_data),
                              "sort": page.sort, "page": page.page, "total": page.total})
    context = {"job": job, "form": form, "page": page, "columns": variants.SORTS}
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "jobs/_variant_results.html" if partial else "jobs/variants.html",
                  context, status=200 if page else 400)
