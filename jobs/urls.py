from django.urls import path

from jobs import views, views_reports

app_name = "jobs"

sample = "labs/<slug:lab_slug>/samples/<uuid:sample_id>/"
upload = sample + "files/<uuid:file_id>/upload/"

job = "labs/<slug:lab_slug>/jobs/<uuid:job_id>/"

report = job + "report/<uuid:report_id>/"

urlpatterns = [
    path("labs/<slug:lab_slug>/reviews/", views_reports.review_queue, name="review_queue"),
    path(job + "report/", views_reports.report_detail, name="report_detail"),
    path(report + "sign/", views_reports.report_sign, name="report_sign"),
    path(report + "amend/", views_reports.report_amend, name="report_amend"),
    path(report + "draft/", views_reports.report_draft, name="report_draft"),
    path(report + "signed.pdf", views_reports.report_download, {"kind": "signed"},
         name="report_download_signed"),
    path(report + "draft.pdf", views_reports.report_download, {"kind": "draft"},
         name="report_download_draft"),
    path(job, views.job_detail, name="job_detail"),
    path(job + "cancel/", views.job_cancel, name="job_cancel"),
    path(job + "retry/", views.job_retry, name="job_retry"),
    path(job + "variants/", views.job_variants, name="variants"),
    path(job + "outputs/<uuid:output_id>/download/", views.output_download,
         name="output_download"),
    path("labs/<slug:lab_slug>/samples/", views.sample_list, name="sample_list"),
    path("labs/<slug:lab_slug>/samples/new/", views.sample_new, name="sample_new"),
    path("labs/<slug:lab_slug>/samples/sheet/", views.sample_sheet, name="sample_sheet"),
    path(sample, views.sample_detail, name="sample_detail"),
    path(sample + "status/", views.sample_status, name="sample_status"),
    path(sample + "submit/", views.sample_submit, name="sample_submit"),
    path(upload, views.upload, name="upload"),
    path(upload + "parts/", views.upload_parts, name="upload_parts"),
    path(upload + "parts/<int:part_number>/", views.upload_sign_part, name="upload_sign_part"),
    path(upload + "complete/", views.upload_complete, name="upload_complete"),
]
