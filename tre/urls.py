from django.contrib import admin
from django.urls import include, path

from tre import views

admin.site.site_header = "TRE administration"
admin.site.site_title = "TRE admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("accounts/", include("accounts.urls")),
    path("workspaces/", include("workspaces.urls")),
    path("workspaces/", include("jobs.urls")),
    path("admin/", admin.site.urls),
]
