from django.urls import path

from jobs.intake import views as intake
from jobs.reports import views as reports
from jobs.results import views as results
from jobs.review import views as review
from jobs.runs import views as runs

app_name = "jobs"

sample = "labs/<slug:lab_slug>/samples/<uuid:sample_id>/"
upload = sample + "files/<uuid:file_id>/upload/"

job = "labs/<slug:lab_slug>/jobs/<uuid:job_id>/"

report = job + "report/<uuid:report_id>/"

urlpatterns = [
    path("labs/<slug:lab_slug>/reviews/", reports.review_queue, name="review_queue"),
    path(job + "report/", reports.report_detail, name="report_detail"),
    path(report + "sign/", reports.report_sign, name="report_sign"),
    path(report + "amend/", reports.report_amend, name="report_amend"),
    path(report + "draft/", reports.report_draft, name="report_draft"),
    path(report + "signed.pdf", reports.report_download, {"kind": "signed"},
         name="report_download_signed"),
    path(report + "draft.pdf", reports.report_download, {"kind": "draft"},
         name="report_download_draft"),
    path(job, results.job_detail, name="job_detail"),
    path(job + "cancel/", runs.job_cancel, name="job_cancel"),
    path(job + "retry/", runs.job_retry, name="job_retry"),
    path(job + "variants/", review.job_variants, name="variants"),
    path(job + "variants/<int:variant_pk>/", review.variant_detail, name="variant_detail"),
    path(job + "variants/<int:variant_pk>/classify/", review.variant_classify,
         name="variant_classify"),
    path(job + "variants/<int:variant_pk>/classify/suggest/", review.variant_suggest,
         name="variant_suggest"),
    path(job + "variants/<int:variant_pk>/select/", review.variant_select, name="variant_select"),
    path("labs/<slug:lab_slug>/panels/", review.panel_list, name="panel_list"),
    path("labs/<slug:lab_slug>/panels/<uuid:panel_id>/", review.panel_detail, name="panel_detail"),
    path("labs/<slug:lab_slug>/presets/", review.preset_save, name="preset_save"),
    path("labs/<slug:lab_slug>/presets/<uuid:preset_id>/delete/", review.preset_delete,
         name="preset_delete"),
    path(job + "outputs/<uuid:output_id>/download/", results.output_download,
         name="output_download"),
    path("labs/<slug:lab_slug>/samples/", intake.sample_list, name="sample_list"),
    path("labs/<slug:lab_slug>/samples/new/", intake.sample_new, name="sample_new"),
    path("labs/<slug:lab_slug>/samples/sheet/", intake.sample_sheet, name="sample_sheet"),
    path(sample, results.sample_detail, name="sample_detail"),
    path(sample + "status/", intake.sample_status, name="sample_status"),
    path(sample + "submit/", runs.sample_submit, name="sample_submit"),
    path(sample + "reanalyse/", runs.sample_reanalyse, name="sample_reanalyse"),
    path(upload, intake.upload, name="upload"),
    path(upload + "parts/", intake.upload_parts, name="upload_parts"),
    path(upload + "parts/<int:part_number>/", intake.upload_sign_part, name="upload_sign_part"),
    path(upload + "complete/", intake.upload_complete, name="upload_complete"),
]
