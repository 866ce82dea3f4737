"""Recyclic's own people: sign in with a Recyclic account, call the API with a Recyclic token,
and Recyclic's own live-stats endpoint answered with these figures.

Real bcrypt hashes (as Recyclic's passlib writes them, at the lowest cost to keep the suite
quick), real tokens signed with PyJWT. Around every request, the SQL sent to every database is
captured: none may write one of Recyclic's tables.
"""

from __future__ import annotations

import re
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import bcrypt
import jwt
import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from model_bakery import baker

from reception_stats import cache as stats_cache
from reception_stats.cache import get_snapshot
from reception_stats.models import RECYCLIC_MODELS, RecyclicAccount, RecyclicUser, UserRole
from reception_stats.permissions import MANAGER_CODENAMES
from tests.recipes import make_poste, make_sale, make_site, make_ticket

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/reception_stats/livestats/"
PAGE = "/admin/reception_stats/livestats/"
UNIFIED = "/api/v1/stats/live"
OURS = "/api/v1/reception/stats/live"
SECRET = "tests-only-recyclic-secret-key-of-32-bytes-or-more"
PASSWORD = "Mot-de-passe-Recyclic-42!"
RECYCLIC_TABLES = "|".join(model._meta.db_table for model in RECYCLIC_MODELS)
WRITE = re.compile(rf'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"({RECYCLIC_TABLES})"', re.I)


@contextmanager
def nothing_written_to_recyclic():
    """Every statement sent to any database in the block: none writes Recyclic's tables."""
    with ExitStack() as stack:
        captured = [
            stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in connections
        ]
        yield
    writes = [q["sql"] for c in captured for q in c.captured_queries if WRITE.match(q["sql"])]
    assert writes == []


def person(
    username: str = "camille.martin",
    *,
    role: str = UserRole.ADMIN,
    status: str = "active",
    is_active: bool = True,
    password: str = PASSWORD,
) -> RecyclicUser:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return baker.make(
        RecyclicUser,
        username=username,
        email=None,
        hashed_password=hashed,
        role=role,
        status=status,
        is_active=is_active,
        site=None,
    )


def token_of(user: RecyclicUser, secret: str = SECRET, **claims) -> str:
    payload = {"sub": str(user.pk), "exp": datetime.now(UTC) + timedelta(hours=1), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post(LOGIN, {"username": username, "password": password})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(stats_cache, "clock", fake)
    return fake


# --- signing in to the admin page with a Recyclic account ---------------------------------------


@pytest.mark.parametrize("role", [UserRole.ADMIN, UserRole.SUPER_ADMIN])
@pytest.mark.parametrize("status", ["active", "approved"])
def test_a_recyclic_admin_signs_in_with_the_password_they_have(client, role, status):
    recyclic = person(role=role, status=status)

    with nothing_written_to_recyclic():
        response = sign_in(client, "camille.martin")
        page = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert page.status_code == 200
    assert 'data-figure="tickets_open"' in page.content.decode()
    account = RecyclicAccount.objects.get(recyclic_user_id=recyclic.pk)
    user = account.user
    assert (user.username, user.is_staff, user.is_superuser) == ("camille.martin", True, False)
    assert not user.has_usable_password()  # only Recyclic's password opens it
    # A manager's: the figures and the wall screens by the desk, nothing else.
    assert {f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.all()} == {
        f"reception_stats.{codename}" for codename in MANAGER_CODENAMES
    }
    assert client.get("/admin/reception_stats/screen/add/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "password"),
    [
        ({"role": UserRole.USER}, PASSWORD),
        ({"is_active": False}, PASSWORD),
        ({"status": "pending"}, PASSWORD),
        ({"status": "rejected"}, PASSWORD),
        ({}, "pas-le-bon"),
    ],
    ids=["role user", "inactive", "pending", "rejected", "wrong password"],
)
def test_who_may_not_sign_in(client, fields, password):
    person(**fields)

    with nothing_written_to_recyclic():
        response = sign_in(client, "camille.martin", password)

    assert response.status_code == 200  # the form again, with its error
    assert "errornote" in response.content.decode()
    assert not RecyclicAccount.objects.exists()


def test_an_unknown_name_is_refused_as_slowly_as_a_wrong_password(client):
    with nothing_written_to_recyclic():
        response = sign_in(client, "personne")
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="personne").exists()


def test_a_second_sign_in_uses_the_same_django_account(client):
    recyclic = person()
    sign_in(client, "camille.martin")
    client.logout()

    sign_in(client, "camille.martin")

    assert RecyclicAccount.objects.filter(recyclic_user_id=recyclic.pk).count() == 1
    assert get_user_model().objects.filter(username="camille.martin").count() == 1


def test_a_django_account_of_the_same_name_is_not_taken_over(client, django_user_model):
    django_user_model.objects.create_user("camille.martin", password="son-mot-de-passe-django")
    person()

    response = sign_in(client, "camille.martin")

    assert response.status_code == 200
    assert not RecyclicAccount.objects.exists()


def test_django_accounts_keep_working_beside(client, manager):
    response = client.post(LOGIN, {"username": "responsable", "password": "un-mot-de-passe-solide"})
    assert response.status_code == 302


def test_sign_in_can_be_turned_off(client, options):
    options(RECYCLIC_LOGIN=False)
    person()
    assert sign_in(client, "camille.martin").status_code == 200


def test_repeated_failures_lock_the_account_out_in_french(client):
    person()
    statuses = [sign_in(client, "camille.martin", "pas-le-bon").status_code for _ in range(5)]

    locked = sign_in(client, "camille.martin")  # even the right password, now

    assert statuses == [200, 200, 200, 200, 429]  # the fifth failure locks
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)  # AXES_COOLOFF_MINUTES
    assert "Compte verrouillé" in locked.content.decode()
    assert not RecyclicAccount.objects.exists()


@pytest.mark.parametrize(
    "change",
    [{"role": UserRole.USER}, {"is_active": False}, {"status": "rejected"}],
    ids=["demoted", "deactivated", "rejected"],
)
def test_a_change_in_recyclic_takes_effect_within_the_check_period(client, clock, change):
    recyclic = person()
    sign_in(client, "camille.martin")
    assert client.get(PAGE).status_code == 200
    RecyclicUser.objects.filter(pk=recyclic.pk).update(**change)  # done in Recyclic

    clock.now += 59  # still within ACCOUNT_CHECK_SECONDS: the last check holds
    within = client.get(PAGE)
    clock.now += 2
    after = client.get(PAGE)

    assert within.status_code == 200
    assert after.status_code == 302  # logged out: back to the admin's login
    assert after["Location"].startswith("/admin/login/")


def test_a_recyclic_account_with_a_drf_token_follows_recyclic_too(client, clock):
    from rest_framework.authtoken.models import Token

    recyclic = person()
    sign_in(client, "camille.martin")
    key = Token.objects.create(user=get_user_model().objects.get(username="camille.martin")).key
    RecyclicUser.objects.filter(pk=recyclic.pk).update(role=UserRole.USER)
    clock.now += 61

    response = client.get(OURS, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 403


# --- Recyclic's tokens on the API -----------------------------------------------------------


@pytest.mark.parametrize("path", [UNIFIED, OURS, f"{OURS}/breakdown"])
def test_a_recyclic_admins_token_opens_every_api_endpoint(client, path):
    recyclic = person()
    with nothing_written_to_recyclic():
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token_of(recyclic)}")
    assert response.status_code == 200
    assert not get_user_model().objects.exists()  # no Django account for an API call


def test_a_valid_token_of_a_user_role_is_403(client):
    recyclic = person(role=UserRole.USER)
    response = client.get(UNIFIED, HTTP_AUTHORIZATION=f"Bearer {token_of(recyclic)}")
    assert response.status_code == 403


def _unsigned(user) -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(
        f'{{"sub":"{user.pk}","exp":{int(datetime.now(UTC).timestamp()) + 3600}}}'.encode()
    ).decode()
    return f"{header}.{body}."


def _rs256_header_hmac_signed(user) -> str:
    # An attacker's classic: claim RS256, sign with the HMAC key. Refused by algorithm.
    token = token_of(user)
    header = jwt.utils.base64url_encode(b'{"alg":"RS256","typ":"JWT"}').decode()
    return ".".join([header, *token.split(".")[1:]])


@pytest.mark.parametrize(
    "make_token",
    [
        lambda u: token_of(u, exp=datetime.now(UTC) - timedelta(minutes=1)),
        lambda u: token_of(u, secret="not-recyclics-key"),
        _unsigned,
        _rs256_header_hmac_signed,
        lambda u: token_of(u, scope="password-reset"),
        lambda u: jwt.encode(
            {"sub": str(uuid4()), "exp": datetime.now(UTC) + timedelta(hours=1)},
            SECRET,
            algorithm="HS256",
        ),
        lambda u: jwt.encode(
            {"sub": "camille.martin", "exp": datetime.now(UTC) + timedelta(hours=1)},
            SECRET,
            algorithm="HS256",
        ),
        lambda u: jwt.encode({"sub": str(u.pk)}, SECRET, algorithm="HS256"),
        lambda u: "not.a.token",
        lambda u: token_of(u, exp=datetime.now(UTC) + timedelta(days=8)),
        lambda u: token_of(u, exp=10**30),
    ],
    ids=[
        "expired",
        "wrong key",
        "alg none",
        "RS256 header",
        "password-reset scope",
        "unknown sub",
        "malformed sub",
        "no expiry",
        "garbage",
        "valid longer than Recyclic signs",
        "never expires",
    ],
)
def test_a_bad_token_is_401_with_bearer(client, make_token):
    recyclic = person()
    with nothing_written_to_recyclic():
        response = client.get(UNIFIED, HTTP_AUTHORIZATION=f"Bearer {make_token(recyclic)}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_the_longest_token_recyclic_signs_is_accepted(client):
    """Recyclic's administrators may set its tokens' lifetime up to seven days."""
    recyclic = person()
    token = token_of(recyclic, exp=datetime.now(UTC) + timedelta(days=7))
    assert client.get(UNIFIED, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_an_inactive_accounts_token_is_401(client):
    recyclic = person(is_active=False)
    response = client.get(OURS, HTTP_AUTHORIZATION=f"Bearer {token_of(recyclic)}")
    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Bearer")


def test_without_recyclics_key_no_recyclic_token_is_accepted(client, options):
    options(RECYCLIC_SECRET_KEY="")
    recyclic = person()
    response = client.get(UNIFIED, HTTP_AUTHORIZATION=f"Bearer {token_of(recyclic)}")
    assert response.status_code == 401


def test_a_demotion_reaches_a_token_within_the_check_period(client, clock):
    recyclic = person()
    header = {"HTTP_AUTHORIZATION": f"Bearer {token_of(recyclic)}"}
    assert client.get(UNIFIED, **header).status_code == 200
    RecyclicUser.objects.filter(pk=recyclic.pk).update(role=UserRole.USER)
    clock.now += 61
    assert client.get(UNIFIED, **header).status_code == 403


# --- Recyclic's own endpoint, answered with these figures -------------------------------------

UNIFIED_FIELDS = {
    "tickets_count": "sales_count",
    "last_ticket_amount": "last_sale_amount",
    "ca": "turnover_eur",
    "donations": "donations_eur",
    "weight_out_sales": "weight_out_sales",
    "tickets_open": "tickets_open",
    "tickets_closed_24h": "tickets_closed_24h",
    "items_received": "items_received",
    "weight_in": "weight_in",
    "weight_out": "weight_out",
    "period_start": "period_start",
    "period_end": "period_end",
}


@pytest.fixture
def admin_header():
    return {"HTTP_AUTHORIZATION": f"Bearer {token_of(person())}"}


@pytest.mark.parametrize(("period_type", "window"), [("daily", "today"), ("24h", "24h")])
def test_the_unified_endpoint_answers_the_services_figures(
    client, admin_header, period_type, window
):
    now = timezone.now()
    poste = make_poste(now - timedelta(minutes=50))
    make_ticket(poste, lines=["12.5", ("3", True)])
    make_sale(created_at=now - timedelta(minutes=20), total_amount=42.5, item_weights=[2.0])
    site = make_site()

    with nothing_written_to_recyclic():
        body = client.get(UNIFIED, {"period_type": period_type}, **admin_header).json()
        one_site = client.get(
            UNIFIED, {"period_type": period_type, "site_id": str(site.pk)}, **admin_header
        ).json()

    figures = get_snapshot(window, source="api").snapshot.stats.as_json()
    assert body == {name: figures[ours] for name, ours in UNIFIED_FIELDS.items()}
    assert (body["tickets_open"], body["weight_in"], body["ca"]) == (1, 12.5, 42.5)
    assert set(one_site) == set(UNIFIED_FIELDS)
    assert one_site["tickets_open"] == 0  # that site has no activity


def test_the_unified_endpoint_is_daily_by_default(client, admin_header):
    body = client.get(UNIFIED, **admin_header).json()
    midnight = datetime.fromisoformat(body["period_start"])
    assert (midnight.hour, midnight.minute) == (0, 0)


@pytest.mark.parametrize(
    ("query", "loc", "kind"),
    [
        ({"period_type": "weekly"}, ["query", "period_type"], "literal_error"),
        ({"site_id": "centre-ville"}, ["query", "site_id"], "uuid_parsing"),
    ],
)
def test_a_bad_parameter_is_422_as_recyclic_answers_it(client, admin_header, query, loc, kind):
    response = client.get(UNIFIED, query, **admin_header)

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (loc, kind)
    assert problem["input"] == next(iter(query.values()))


def test_recyclics_older_endpoint_keeps_its_fields(client, admin_header):
    body = client.get(OURS, **admin_header).json()
    assert {
        "tickets_open",
        "tickets_closed_24h",
        "turnover_eur",
        "donations_eur",
        "weight_in",
        "weight_out",
        "items_received",
    } <= set(body)


def test_the_unified_endpoint_is_counted_as_recyclics(client, admin_header):
    from reception_stats import metrics

    def requests() -> float:
        for family in metrics.REQUESTS.collect():
            for sample in family.samples:
                if sample.labels == {"source": "recyclic", "outcome": "computed"}:
                    return sample.value
        return 0.0

    before = requests()
    assert client.get(UNIFIED, {"period_type": "24h"}, **admin_header).status_code == 200
    assert requests() == before + 1


def test_recyclic_down_at_sign_in_is_a_503_never_a_counted_failure(client, unreachable_database):
    """The right Recyclic password while Recyclic's database does not answer: nobody can tell
    it from a wrong one, so it is neither refused as wrong nor counted by django-axes (five
    retries during an outage would otherwise lock the manager out)."""
    from axes.models import AccessAttempt

    answers = [sign_in(client, "camille.martin") for _ in range(6)]

    assert [answer.status_code for answer in answers] == [503] * 6
    assert answers[0]["Retry-After"]
    assert "la base de Recyclic ne répond pas" in answers[0].content.decode()
    assert "pas compté" in answers[0].content.decode()
    assert not AccessAttempt.objects.exists()


def test_a_django_accounts_wrong_password_still_counts_while_recyclic_is_down(
    client, manager, unreachable_database
):
    """Recyclic never signs in a Django account's name: its failures count as always."""
    from axes.models import AccessAttempt

    response = client.post(LOGIN, {"username": "responsable", "password": "pas-le-bon"})

    assert response.status_code == 200  # the form again, with Django's error
    assert AccessAttempt.objects.get().failures_since_start == 1
    assert (
        client.post(
            LOGIN, {"username": "responsable", "password": "un-mot-de-passe-solide"}
        ).status_code
        == 302
    )


def test_the_unified_endpoint_says_in_headers_what_its_format_cannot(
    client, admin_header, options, unreachable_database
):
    """Recyclic's format has no field for staleness or bad values: headers carry them."""
    options(CACHE_TIMEOUT=0, DATABASE="default")
    fresh = client.get(UNIFIED, **admin_header)
    options(DATABASE=unreachable_database)
    stale = client.get(UNIFIED, **admin_header)

    assert fresh["X-Reception-Stats-Stale"] == "false"
    assert fresh["X-Reception-Stats-Enabled"] == "true"
    assert int(fresh["Age"]) == 0
    assert "X-Reception-Stats-Bad-Values" not in fresh
    assert stale.status_code == 200
    assert stale.json() == fresh.json()
    assert stale["X-Reception-Stats-Stale"] == "true"


def _user_is_cached(user_id) -> bool:
    from reception_stats.accounts import _user_key

    return stats_cache.Store("accounts").get(_user_key(user_id)) is not None


def test_signing_in_again_keeps_the_other_sessions_cached(client, manager):
    """A sign-in writes last_login, or re-reads a Recyclic account: neither changes what the
    person may do, so their other sessions keep the cached copy they fall back on while
    Django's database does not answer."""
    from reception_stats.accounts import cached_user

    cached_user(manager.pk)
    client.post(LOGIN, {"username": "responsable", "password": "un-mot-de-passe-solide"})
    assert _user_is_cached(manager.pk)

    person()
    assert sign_in(client, "camille.martin").status_code == 302
    linked = RecyclicAccount.objects.get().user
    cached_user(linked.pk)
    client.logout()
    assert sign_in(client, "camille.martin").status_code == 302
    assert _user_is_cached(linked.pk)


def test_a_change_of_rights_still_drops_the_cached_user(manager):
    from reception_stats.accounts import cached_user

    cached_user(manager.pk)
    manager.is_active = False
    manager.save()
    assert not _user_is_cached(manager.pk)


def test_a_reactivated_account_signs_in_and_stays_in(client, clock):
    """Refused while inactive (the verdict kept a minute), reactivated in Recyclic, then signed
    in: the sign-in's own reading of the account is the one kept from then on."""
    recyclic = person()
    RecyclicUser.objects.filter(pk=recyclic.pk).update(is_active=False)  # done in Recyclic
    header = {"HTTP_AUTHORIZATION": f"Bearer {token_of(recyclic)}"}
    assert client.get(UNIFIED, **header).status_code == 401
    RecyclicUser.objects.filter(pk=recyclic.pk).update(is_active=True)  # and undone

    assert sign_in(client, "camille.martin").status_code == 302
    assert client.get(PAGE).status_code == 200
    assert client.get(UNIFIED, **header).status_code == 200


def test_the_unified_endpoint_says_when_the_flag_is_off(client, admin_header, settings):
    """Zeros in Recyclic's format would pass for a quiet day: a header says they are not."""
    settings.LIVE_RECEPTION_STATS_ENABLED = False
    response = client.get(UNIFIED, **admin_header)

    assert response.status_code == 200
    assert response.json()["ca"] == 0.0
    assert response["X-Reception-Stats-Enabled"] == "false"


def test_a_django_accounts_name_costs_the_time_of_a_recyclic_check(client, manager, monkeypatch):
    """A wrong password for a Django account once answered twice as fast as for anyone else:
    the time told which names are Django's own accounts. One bcrypt check for every name."""
    from reception_stats import recyclic_users

    checks = []
    real = recyclic_users.password_matches
    monkeypatch.setattr(
        recyclic_users, "password_matches", lambda *args: checks.append(args) or real(*args)
    )
    person()

    client.post(LOGIN, {"username": "responsable", "password": "pas-le-bon"})
    client.post(LOGIN, {"username": "inconnu", "password": "pas-le-bon"})
    sign_in(client, "camille.martin", "pas-le-bon")

    assert len(checks) == 3
