from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.validators import MaxLengthValidator
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.generic import RedirectView
from rest_framework.authentication import SessionAuthentication

from reception_stats.api.authentication import CachedTokenAuthentication
from reception_stats.permissions import CanViewLiveStats

# The project has no public site of its own: the admin's "Voir le site" link would lead to a 404.
admin.site.site_url = None


class LoginForm(AdminAuthenticationForm):
    """The admin's login form, whose user name is refused past the user model's length like any
    other invalid value: Django only sets the widget's maxlength, and a longer name would reach
    django-axes, whose record of the attempt the database then refuses."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


admin.site.login_form = LoginForm

urlpatterns = [
    # Whoever types the server's address lands on the admin (its login, then the figures).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    # Browsers ask for it on every page: no icon, and no 404 in their console either.
    path("favicon.ico", cache_control(max_age=86400)(lambda request: HttpResponse(status=204))),
    path("admin/", admin.site.urls),
    # The API, /healthz and /metrics.
    path("", include("reception_stats.urls")),
]

if "drf_spectacular" in settings.INSTALLED_APPS:
    from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

    # The API's description follows the API's own access rule.
    access = {
        "authentication_classes": [CachedTokenAuthentication, SessionAuthentication],
        "permission_classes": [CanViewLiveStats],
    }
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(**access), name="schema"),
        path(
            "api/docs/",
            # GET and HEAD only: its HTML renderer has no page for an OPTIONS answer.
            SpectacularSwaggerView.as_view(
                url_name="schema", http_method_names=["get", "head"], **access
            ),
            name="swagger-ui",
        ),
    ]

# A database outage raised outside any view (a session saved once the response is built) is a
# 503 with Retry-After, like one raised inside.
handler500 = "reception_stats.middleware.server_error"
