from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Countdown Guard administration"
admin.site.site_title = "Countdown Guard"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("heartbeats.urls")),
]
