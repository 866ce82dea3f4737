from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from reception_stats.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("reception_stats.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

# Liveness and readiness for load balancers and container healthchecks: status for everyone,
# details for staff and for the callers allowed on /metrics.
urlpatterns.append(path("healthz", healthz, name="healthz"))

if settings.METRICS_ENABLED:
    from reception_stats.exporter import metrics_view

    # Not public: METRICS_ALLOWED_IPS or the METRICS_TOKEN bearer token, 403 otherwise.
    urlpatterns.append(path("metrics", metrics_view, name="prometheus-metrics"))
