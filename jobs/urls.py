from django.urls import path

from jobs import views

app_name = "jobs"
job = "<slug:slug>/jobs/<int:job_id>/"
urlpatterns = [
    path("<slug:slug>/jobs/", views.job_list, name="list"),
    path("<slug:slug>/jobs/new/", views.job_new, name="new"),
    path(job, views.job_detail, name="detail"),
    path(job + "status/", views.job_status, name="status"),
    path(job + "cancel/", views.job_cancel, name="cancel"),
    path(job + "rerun/", views.job_rerun, name="rerun"),
    path(job + "outputs/<int:output_id>/", views.output_file, name="output"),
]
