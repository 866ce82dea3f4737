"""A host project's URLs that forgot ``include("reception_stats.urls")``."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
