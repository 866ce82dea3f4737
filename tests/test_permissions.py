"""Who may read the figures through the API: the whole matrix, with real authentication.

Holders of ``reception_stats.view_live_stats`` (directly or through a group) and superusers read
them, by session or by token; staff status alone is not enough; anonymous requests get 401 with
the header that says how to authenticate; authenticated users without the right get 403; an
inactive account is refused whatever it holds.
"""

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reception_stats.permissions import can_view_live_stats
from tests.recipes import password_login

pytestmark = pytest.mark.django_db

URL = "/api/v1/reception/stats/live"


@pytest.fixture
def client():
    return APIClient()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="admin", password="motdepasse")


@pytest.fixture
def inactive_staff(django_user_model):
    return django_user_model.objects.create_user(
        username="ancienne", password="motdepasse", is_staff=True, is_active=False
    )


def test_anonymous_gets_401_with_www_authenticate(client):
    response = client.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == {"detail"}


def test_a_wrong_token_gets_401(client):
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")

    response = client.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_non_staff_without_the_permission_gets_403(client, plain_user):
    client.force_login(plain_user)

    response = client.get(URL)

    assert response.status_code == 403
    assert "reception_stats.view_live_stats" in response.json()["detail"]


def test_non_staff_with_the_permission_reads_the_figures(client, permitted_user):
    client.force_login(permitted_user)

    assert client.get(URL).status_code == 200


def test_the_permission_through_a_group_is_enough(client, plain_user):
    from django.contrib.auth.models import Group

    reception = Group.objects.create(name="Réception")
    reception.permissions.add(Permission.objects.get(codename="view_live_stats"))
    plain_user.groups.add(reception)
    client.force_login(plain_user)

    assert client.get(URL).status_code == 200


def test_staff_without_the_permission_gets_403(client, staff_user):
    """One rule for every door: the admin page refuses them too."""
    assert password_login(client, "gerante", "motdepasse-staff")

    assert client.get(URL).status_code == 403


def test_a_manager_reads_the_figures_by_session(client, manager):
    assert password_login(client, "responsable", "un-mot-de-passe-solide")

    assert client.get(URL).status_code == 200


def test_a_token_reads_the_figures(permitted_user):
    response = token_client(permitted_user).get(URL)

    assert response.status_code == 200
    assert response.json()["enabled"] is True


def test_a_token_without_the_right_gets_403(plain_user):
    assert token_client(plain_user).get(URL).status_code == 403


def test_superuser_reads_the_figures(client, superuser):
    client.force_login(superuser)

    assert client.get(URL).status_code == 200


def test_inactive_staff_is_refused_with_a_token(inactive_staff):
    response = token_client(inactive_staff).get(URL)

    assert response.status_code == 401


def test_inactive_staff_is_refused_with_a_session(client, inactive_staff):
    client.force_login(inactive_staff)

    assert client.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("flags", "allowed"),
    [
        ({"is_staff": True}, False),
        ({"is_superuser": True}, True),
        ({}, False),
        ({"is_staff": True, "is_active": False}, False),
        ({"is_superuser": True, "is_active": False}, False),
    ],
)
def test_the_rule_itself(django_user_model, flags, allowed):
    user = django_user_model.objects.create_user(username="quelquun", **flags)

    assert can_view_live_stats(user) is allowed


def test_the_rule_refuses_an_inactive_holder_of_the_permission(permitted_user):
    permitted_user.is_active = False

    assert can_view_live_stats(permitted_user) is False


def test_the_rule_refuses_anonymous():
    assert can_view_live_stats(AnonymousUser()) is False


def test_a_token_follows_its_user_at_once(plain_user):
    """Refused, then given the permission, or deactivated: the token's next request knows."""
    client = token_client(plain_user)
    assert client.get(URL).status_code == 403

    plain_user.user_permissions.add(Permission.objects.get(codename="view_live_stats"))
    assert client.get(URL).status_code == 200

    plain_user.is_active = False
    plain_user.save()
    assert client.get(URL).status_code == 401
