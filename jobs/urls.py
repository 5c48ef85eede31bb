from django.urls import path

from jobs import views

app_name = "jobs"

sample = "labs/<slug:lab_slug>/samples/<uuid:sample_id>/"
upload = sample + "files/<uuid:file_id>/upload/"

job = "labs/<slug:lab_slug>/jobs/<uuid:job_id>/"

urlpatterns = [
    path(job, views.job_detail, name="job_detail"),
    path(job + "cancel/", views.job_cancel, name="job_cancel"),
    path(job + "retry/", views.job_retry, name="job_retry"),
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
