"""The bundled project speaks French whatever the browser asks, and says who it is.

The suite's settings add Django's LocaleMiddleware so that the app's messages can be checked in
English too, as a host project negotiating the language would show them; these tests put the
project's own middleware back.
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings

from recyclic import settings as project

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@override_settings(MIDDLEWARE=project.MIDDLEWARE)
def test_the_project_answers_in_french_to_an_english_browser(client, manager):
    page = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()

    assert 'lang="fr"' in page
    assert "Nom d\u2019utilisateur" in page


@override_settings(MIDDLEWARE=project.MIDDLEWARE)
def test_the_api_answers_in_french_too(client, manager):
    client.force_login(manager)

    body = client.get(
        "/api/v1/reception/stats/live", {"window": "week"}, HTTP_ACCEPT_LANGUAGE="en"
    ).json()

    assert body["window"] == ["Période inconnue week : utilisez 24h ou today."]


def test_the_admin_is_branded_for_recyclic(client, manager):
    client.force_login(manager)

    page = client.get("/admin/reception_stats/livestats/").content.decode()

    assert "<title>Réception — statistiques en direct | Recyclic — statistiques</title>" in page
    assert ">Recyclic — statistiques</a>" in page


def test_the_permission_is_named_in_the_projects_language():
    permission = Permission.objects.get(codename="view_live_stats")

    assert permission.name == "Peut voir les statistiques de réception en direct"


def test_the_project_has_no_locale_middleware():
    assert "django.middleware.locale.LocaleMiddleware" not in project.MIDDLEWARE
    assert project.LANGUAGE_CODE == "fr"
