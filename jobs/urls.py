from django.urls import path

from jobs import airlock_views, views

app_name = "jobs"
job = "<slug:slug>/jobs/<int:job_id>/"
urlpatterns = [
    path("<slug:slug>/jobs/", views.job_list, name="list"),
    path("<slug:slug>/jobs/new/", views.job_new, name="new"),
    path(job, views.job_detail, name="detail"),
    path(job + "status/", views.job_status, name="status"),
    path(job + "status/wait/", views.job_status_wait, name="status_wait"),
    path(job + "cancel/", views.job_cancel, name="cancel"),
    path(job + "rerun/", views.job_rerun, name="rerun"),
    path(job + "outputs/<int:output_id>/", views.output_file, name="output"),
]

release = "<slug:slug>/releases/<int:request_id>/"
urlpatterns += [
    path(job + "release/", airlock_views.release_new, name="release_new"),
    path("<slug:slug>/releases/", airlock_views.release_list, name="release_list"),
    path(release, airlock_views.release_detail, name="release_request"),
    path(release + "supporting/", airlock_views.release_supporting_file, name="release_supporting"),
    path(
        release + "supporting/<int:file_id>/",
        airlock_views.supporting_file_download,
        name="release_supporting_file",
    ),
    path(release + "items/<int:item_id>/", airlock_views.release_item_file, name="release_item"),
    path(release + "<slug:action>/", airlock_views.release_action, name="release_action"),
]
