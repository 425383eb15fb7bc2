from django.urls import path

from workspaces import dataset_views, views

app_name = "workspaces"
urlpatterns = [
    path("", views.workspace_list, name="list"),
    path("<slug:slug>/", views.workspace_detail, name="detail"),
    path("<slug:slug>/members/", views.member_list, name="members"),
    path("<slug:slug>/members/<int:membership_id>/roles/", views.member_roles, name="member_roles"),
    path(
        "<slug:slug>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"
    ),
]

dataset = "<slug:slug>/datasets/<int:dataset_id>/"
version = dataset + "v<int:number>/"
urlpatterns += [
    path("<slug:slug>/datasets/new/", dataset_views.dataset_new, name="dataset_new"),
    path(dataset, dataset_views.dataset_detail, name="dataset"),
    path(dataset + "versions/new/", dataset_views.version_new, name="version_new"),
    path(dataset + "settings/", dataset_views.dataset_settings, name="dataset_settings"),
    path(dataset + "erase/", dataset_views.dataset_erase, name="dataset_erase"),
    path(version, dataset_views.version_detail, name="dataset_version"),
    path(version + "decide/", dataset_views.version_decide, name="version_decide"),
    path(version + "erase/", dataset_views.version_erase, name="version_erase"),
    path(version + "synthetic/", dataset_views.sample_browse, name="sample_browse"),
    path(version + "synthetic/rebuild/", dataset_views.sample_rebuild, name="sample_rebuild"),
    path(version + "synthetic/status/", dataset_views.sample_status, name="sample_status"),
    path(version + "synthetic.csv", dataset_views.sample_download, name="sample_download"),
]
