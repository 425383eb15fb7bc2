from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from tre import views

admin.site.site_header = "TRE administration"
admin.site.site_title = "TRE admin"
# One way in, with its second factor and lockout: the admin's own sign-in page sends
# people to the portal's.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("workspaces/", include("workspaces.urls")),
    path("workspaces/", include("jobs.urls")),
    path("workspaces/", include("privacy.urls")),
    path("admin/", admin.site.urls),
    # The JSON API (docs/api.md): personal API tokens, no session.
    path("api/v1/", include("api.urls")),
]
