"""Run pages' actions: submit a ready sample for analysis, analyse a submitted one again, cancel,
retry."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from jobs.intake.access import access_sample
from jobs.runs import services
from jobs.runs.access import access_job
from storage.s3 import StorageError
from tenants.access import lab_view


@lab_view()
@require_POST
def sample_submit(request, sample_id):
    sample = access_sample(request.membership, sample_id)
    try:
        job = services.job_submit(membership=request.membership, sample=sample, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if job.queue_error:
            messages.warning(request, f"{sample.name} was submitted, but the task queue did not "
                             f"answer ({job.queue_error}). The analysis starts by itself once it "
                             f"answers, within {settings.REQUEUE_AFTER_SECONDS // 60} minutes; "
                             "nothing needs to be submitted again.")
        else:
            messages.success(request, f"{sample.name} was submitted for analysis.")
        return redirect("jobs:job_detail", lab_slug=request.lab.slug, job_id=job.pk)
    return redirect("jobs:sample_detail", lab_slug=request.lab.slug, sample_id=sample.pk)


@lab_view(manager_only=True)
@require_POST
def sample_reanalyse(request, sample_id):
    sample = access_sample(request.membership, sample_id)
    try:
        job = services.sample_reanalyse(membership=request.membership, sample=sample,
                                        reason=request.POST.get("reason", "")[:2000],
                                        request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except StorageError as exc:
        messages.error(request, f"Storage did not answer, so nothing was started: {exc}. "
                                "Try again in a few minutes.")
    else:
        if job.queue_error:
            messages.warning(request, f"A new analysis of {sample.name} was recorded, but the "
                             f"task queue did not answer ({job.queue_error}). It starts by itself "
                             f"once it answers, within {settings.REQUEUE_AFTER_SECONDS // 60} "
                             "minutes.")
        else:
            messages.success(request, f"A new analysis of {sample.name} was queued; the earlier "
                                      "one and its report stay on the sample's page.")
        return redirect("jobs:job_detail", lab_slug=request.lab.slug, job_id=job.pk)
    return redirect("jobs:sample_detail", lab_slug=request.lab.slug, sample_id=sample.pk)


@lab_view()
@require_POST
def job_cancel(request, job_id):
    job = access_job(request.membership, job_id)
    try:
        services.job_cancel(membership=request.membership, job=job, request=request)
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
        services.job_retry(membership=request.membership, job=job, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The job was queued again; it resumes where it stopped.")
    return redirect("jobs:job_detail", lab_slug=request.lab.slug, job_id=job.pk)
