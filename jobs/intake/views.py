"""Intake pages: the sample list, a new sample (one at a time or from a sheet), its upload
status, and the direct upload API (docs/upload-api.md)."""

import functools
import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.urls import url_with_id
from common.paging import list_page
from jobs.intake import received, selectors, services, uploads
from jobs.intake.access import access_sample, access_sample_file
from jobs.intake.file_names import sent_name
from jobs.intake.forms import DirectUploadForm, PlainUploadForm, SampleSheetForm
from jobs.intake.sample_sheet import COLUMNS, MAX_ROWS, parse_sheet
from jobs.models import FileStatus
from storage.s3 import StorageError
from tenants import audit_actions
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
    if "uploaded" in request.GET:
        # Where the browser's sheet upload lands once every file is stored: the message is shown
        # once, on the list without the parameter (a reload does not say it again).
        uploaded = request.GET["uploaded"]
        if uploaded.isdigit() and 0 < int(uploaded) <= MAX_ROWS:
            messages.success(request, _uploaded_message(int(uploaded)))
        rest = request.GET.copy()
        del rest["uploaded"]
        return redirect(f"{request.path}?{rest.urlencode()}" if rest else request.path)
    search = request.GET.get("q", "").strip()[:64]
    sort = request.GET.get("sort", "")
    sort = sort if sort in selectors.SAMPLE_SORTS else selectors.DEFAULT_SAMPLE_SORT
    page = list_page(selectors.sample_list(request.lab, search=search, sort=sort), request.GET)
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.SAMPLE_LIST_VIEWED,
                 lab=request.lab, resource_type="sample", phi_accessed=True, request=request,
                 details={"count": len(page.rows), "total": page.total, "page": page.number,
                          "search": search, "sort": sort})
    return render(request, "jobs/sample_list.html", {
        "rows": selectors.sample_rows(
            page.rows, sample_url=url_with_id("jobs:sample_detail", request.lab.slug),
            job_url=url_with_id("jobs:job_detail", request.lab.slug)),
        "page": page, "search": search, "sort": sort,
        "sorts": [(k, label) for k, (label, _) in selectors.SAMPLE_SORTS.items()]})


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
        "files": [file_json(slug, f) for f in sample.files.all()],
    }


def file_json(slug: str, f) -> dict:
    return {"read": f.read, "id": str(f.pk), "name": f.original_name, "size": f.size,
            "status": f.status,
            "upload_url": reverse("jobs:upload", args=[slug, f.sample_id, f.pk])}


def _sample_new_plain(request):
    membership = request.membership
    kept = received.from_token(membership, request.POST.get("received", ""))
    form = PlainUploadForm(request.POST, request.FILES, received_files=kept)
    storage_down = False
    if form.is_valid():
        try:
            sample = services.sample_create_from_plain_upload(
                membership=membership, data=form.cleaned_data, uploads=form.chosen_files(),
                request=request)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field, errors)
            else:
                form.add_error(None, exc)
        except StorageError as exc:
            storage_down = True
            form.add_error(None, f"Your files could not be stored, so nothing was saved: {exc}. "
                                 "Try again in a few minutes.")
        else:
            messages.success(request, f"{sample.name} was uploaded and is being verified.")
            return redirect("jobs:sample_detail", lab_slug=request.lab.slug, sample_id=sample.pk)
    # Another field's error must not cost the files: keep those that came in and passed their own
    # checks, so the corrected form is sent without them.
    for read, upload in ({} if storage_down else form.acceptable_uploads()).items():
        try:
            kept[read] = received.receive(membership=membership, read=read, upload=upload,
                                          request=request)
        except StorageError as exc:
            form.add_error(f"r{read}", f"{upload.name} could not be kept ({exc}); choose it "
                                       "again.")
    form.set_received(kept)
    data = form.data.copy()
    data["received"] = received.token_for(membership, kept)
    form.data = data
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
    uploads = {sent_name(f): f for f in request.FILES.getlist("fastqs")}
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
        try:
            samples = services.samples_create_from_sheet(membership=request.membership,
                                                         rows=parsed.rows, request=request)
        except ValidationError as exc:
            return _error_json({"__all__": ["No sample of this sheet was stored: "
                                            + " ".join(exc.messages)]}, 400)
        list_url = reverse("jobs:sample_list", args=[request.lab.slug])
        return JsonResponse({"samples": [_sample_created_json(request, s) for s in samples],
                             "list_url": list_url,
                             "done_url": f"{list_url}?uploaded={len(samples)}"}, status=201)
    return _sheet_plain(request, context, form, parsed, uploads)


def _sheet_plain(request, context, form, parsed, uploads):
    """Every row was checked by parse_sheet; the samples are then stored all or none."""
    samples = [(row.data, {read: uploads[name] for read, (name, _size) in row.files.items()})
               for row in parsed.rows]
    try:
        created = services.samples_create_from_plain_uploads(
            membership=request.membership, samples=samples, request=request)
    except (ValidationError, StorageError) as exc:
        reason = " ".join(getattr(exc, "messages", [str(exc)]))
        return render(request, "jobs/sample_sheet.html",
                      {**context, "form": form,
                       "sheet_errors": [f"No sample of this sheet was stored: {reason}"]},
                      status=503 if isinstance(exc, StorageError) else 400)
    messages.success(request, _uploaded_message(len(created)))
    return redirect("jobs:sample_list", lab_slug=request.lab.slug)


def _uploaded_message(count: int) -> str:
    return (f"{count} samples were uploaded and are being verified." if count != 1
            else "1 sample was uploaded and is being verified.")


@lab_view()
@require_GET
def sample_status(request, sample_id):
    """The upload API's status of a sample (docs/upload-api.md): status only, no patient data, so
    not audited. (The sample page polls its own URL for its live parts.)"""
    sample = access_sample(request.membership, sample_id)
    files = list(sample.files.all())
    return JsonResponse({
        "status": sample.status, "stage": sample.stage.label, "reason": sample.rejection_reason,
        "note": sample.verification_note,
        "files": [{"read": f.read, "status": f.status, "size": f.size,
                   "read_count": f.read_count, "error": f.error} for f in files]})


def upload_api(view):
    """An upload API view (docs/upload-api.md): its ValidationErrors answer 400 (409 for state
    conflicts) and a storage outage 503, each with the sentence that explains it."""
    @functools.wraps(view)
    def answer(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except uploads.UploadConflict as exc:
            return _error_json({"__all__": _messages(exc)}, 409)
        except ValidationError as exc:
            return _error_json({"__all__": _messages(exc)}, 400)
        except StorageError as exc:
            return _error_json({"__all__": [f"Storage is unavailable: {exc}"]}, 503)
    return answer


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    return body


@lab_view()
@require_http_methods(["POST", "DELETE"])
@upload_api
def upload(request, sample_id, file_id):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    if request.method == "DELETE":
        cancelled = uploads.upload_cancel(membership=request.membership, sample_file=sample_file,
                                          request=request)
        return JsonResponse({"file_status": cancelled.status})
    body = _json_body(request)
    name, size = body.get("name"), body.get("size")
    if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool):
        raise ValidationError("Send the file's name (text) and size (an integer).")
    return JsonResponse(uploads.upload_start(membership=request.membership,
                                             sample_file=sample_file, name=name, size=size,
                                             request=request))


@lab_view()
@require_GET
@upload_api
def upload_parts(request, sample_id, file_id):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    return JsonResponse({"parts": uploads.upload_parts(sample_file=sample_file)})


@lab_view()
@require_POST
@upload_api
def upload_sign_part(request, sample_id, file_id, part_number):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    signed = uploads.upload_sign_part(sample_file=sample_file, part_number=part_number)
    return JsonResponse({"url": signed["url"], "method": "PUT", "size": signed["size"],
                         "expires_in": settings.UPLOAD_PART_URL_SECONDS})


@lab_view()
@require_POST
@upload_api
def upload_complete(request, sample_id, file_id):
    sample_file = access_sample_file(request.membership, sample_id, file_id)
    body = _json_body(request)
    parts = body.get("parts")
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise ValidationError("Send the uploaded parts as a list of {PartNumber, ETag}.")
    f = uploads.upload_complete(membership=request.membership, sample_file=sample_file,
                                parts=parts, sha256=str(body.get("sha256", "")), request=request)
    f.sample.refresh_from_db()
    return JsonResponse({"file_status": f.status, "sample_status": f.sample.status})
