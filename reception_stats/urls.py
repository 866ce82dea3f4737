"""Every door of the app but the admin page, in one include.

``path("", include("reception_stats.urls"))`` in the project's ``urlpatterns`` serves:

- ``api/v1/reception/stats/live`` and ``api/v1/reception/stats/live/breakdown``, the API, and
  ``api/v1/stats/live``, the same figures in the format of Recyclic's own endpoint;
- ``healthz``, for load balancers and container healthchecks;
- ``metrics``, for Prometheus (only with prometheus_client installed: the ``metrics`` extra);
- ``ecran/``, the wall screen by the reception desk, paired from the admin.

The API keeps the ``api/v1/`` prefix Recyclic's own frontend calls, so that a proxy can send
those paths of a Recyclic site to this app unchanged (deploy/nginx/). The admin page comes with
``admin.site.urls``. URL names: ``reception_stats:api:live-stats``, ``reception_stats:healthz``,
``reception_stats:metrics``.
"""

from importlib.util import find_spec

from django.urls import include, path

from .health import healthz
from .views import screen, screen_fragment

app_name = "reception_stats"

urlpatterns = [
    path("api/v1/", include("reception_stats.api.urls", namespace="api")),
    path("healthz", healthz, name="healthz"),
    # The wall screen: paired with a code, then opened by its own cookie (screens.py).
    path("ecran/", screen, name="screen"),
    path("ecran/fragment/", screen_fragment, name="screen-fragment"),
]

if find_spec("prometheus_client"):
    from .exporter import metrics_view

    # Not public: METRICS_ALLOWED_IPS or the METRICS_TOKEN bearer token, 403 otherwise.
    urlpatterns.append(path("metrics", metrics_view, name="metrics"))
