"""The API's routes, mounted by tre/urls.py at api/v1/ (api.middleware.API_ROOT)."""

from django.urls import path

from api.main import api

urlpatterns = [path("", api.urls)]
